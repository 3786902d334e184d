"""What every scraper yields, and the canonical URL that deduplicates across runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SOURCE_LABELS = {"web": "Web", "ig": "IG", "manual": "Manual"}

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

    @property
    def canonical_url(self) -> str:
        return canonical_url(self.url)


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
