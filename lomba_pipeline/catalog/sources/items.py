"""What every scraper yields, and the canonical URL that deduplicates across runs."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SOURCE_LABELS = {"web": "Web", "ig": "IG", "manual": "Manual"}

# Stored text is bounded (the full caption stays in the raw payload): a scraped page may hold
# megabytes of text, and every later step (extraction, review pages) reads these columns.
MAX_CAPTION_CHARS = 20_000
MAX_TITLE_CHARS = 500
MAX_HINT_CHARS = 2_000
MAX_LINK_CHARS = 2_000

# query parameters that only track the visitor and never change the page
_TRACKING = re.compile(
    r"^(utm_.*|fbclid|gclid|dclid|msclkid|igsh|igshid|mc_cid|mc_eid|ref|ref_src|_ga|si|s)$",
    re.IGNORECASE,
)
_IG_POST = re.compile(r"^/(?:[A-Za-z0-9._]+/)?(?:p|reel|reels|tv)/([A-Za-z0-9_-]{5,64})/?$")
IG_HOSTS = {"instagram.com", "www.instagram.com", "m.instagram.com", "instagr.am"}


@dataclass
class ScrapedItem:
    source_kind: str  # web | ig | manual
    source_name: str
    url: str
    title: str | None = None
    caption: str | None = None
    image_url: str | None = None
    external_id: str | None = None
    posted_at: datetime | None = None
    hints: dict = field(default_factory=dict)
    payload: dict = field(default_factory=dict)
    card_hash: str | None = None  # web items: what the list card said (``card_hash``)

    @property
    def canonical_url(self) -> str:
        return canonical_url(self.url)

    def bounded(self) -> ScrapedItem:
        """This item with title, caption and hints cut to the stored limits; a cut caption is
        kept whole in ``payload["caption_full"]``."""
        caption, title = self.caption, self.title
        payload = dict(self.payload)
        if caption is not None and len(caption) > MAX_CAPTION_CHARS:
            payload["caption_full"] = caption
            payload["caption_chars"] = len(caption)
            caption = caption[:MAX_CAPTION_CHARS]
        if title is not None and len(title) > MAX_TITLE_CHARS:
            payload.setdefault("title_full", title)
            title = title[:MAX_TITLE_CHARS]
        hints = {
            k: v[:MAX_HINT_CHARS] if isinstance(v, str) else v for k, v in self.hints.items()
        }
        return replace(self, caption=caption, title=title, hints=hints, payload=payload)


def card_hash(listing: dict) -> str:
    """A stable hash of a parsed list card: equal cards give equal hashes across runs."""
    text = json.dumps(listing, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class BadLink(ValueError):
    """A link from a scraped page that cannot be requested or stored; the message says why."""


def checked_link(url: str | None) -> str:
    """``url`` if it is an absolute http(s) URL with a host (what a card or poster link must be),
    else ``BadLink`` naming the link and the problem."""
    if not isinstance(url, str) or not url.strip():
        raise BadLink("empty link")
    raw = url.strip()
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    if len(raw) > MAX_LINK_CHARS:
        raise BadLink(f"{shown!r}: link longer than {MAX_LINK_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise BadLink(f"{shown!r}: spaces or control characters in the link")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError as exc:
        raise BadLink(f"{shown!r}: malformed link ({exc})") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise BadLink(f"{shown!r}: not an http(s) link")
    if not parts.hostname:
        raise BadLink(f"{shown!r}: link without a host")
    return raw


def instagram_shortcode(url: str) -> str | None:
    """The post shortcode of an Instagram post/reel URL, else None."""
    raw = url.strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if (parts.hostname or "").lower() not in IG_HOSTS:
        return None
    match = _IG_POST.match(parts.path)
    return match.group(1) if match else None


def instagram_post_url(shortcode: str) -> str:
    return f"https://www.instagram.com/p/{shortcode}/"


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, no fragment, no tracking parameters, sorted query;
    Instagram post and reel URLs become ``https://www.instagram.com/p/<shortcode>/``."""
    shortcode = instagram_shortcode(url)
    if shortcode:
        return instagram_post_url(shortcode)
    parts = urlsplit(url.strip())
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)
    )
    host = (parts.hostname or "").lower()
    if parts.port and not (
        (parts.scheme == "http" and parts.port == 80)
        or (parts.scheme == "https" and parts.port == 443)
    ):
        host = f"{host}:{parts.port}"
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), host, path, urlencode(query), ""))
