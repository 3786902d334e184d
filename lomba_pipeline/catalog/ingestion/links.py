"""Manual Instagram links: validation, canonical form, storage."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from lomba_pipeline.catalog.sources.items import instagram_post_url, instagram_shortcode
from lomba_pipeline.db.manual_links import ManualLink, add_link
from lomba_pipeline.partitions import link_partition_key


class InvalidLink(ValueError):
    """A submitted link that is not an Instagram post; the message says why."""


@dataclass(frozen=True)
class CanonicalLink:
    submitted: str
    canonical: str
    shortcode: str

    @property
    def partition_key(self) -> str:
        return link_partition_key(self.canonical)


def canonical_link(url: str) -> CanonicalLink:
    raw = (url or "").strip()
    if not raw:
        raise InvalidLink("empty link")
    if any(ch.isspace() for ch in raw) or len(raw) > 2000:
        raise InvalidLink(f"{raw[:80]!r}: not a single URL")
    parts = urlsplit(raw if "://" in raw else "https://" + raw)
    if parts.scheme not in {"http", "https"}:
        raise InvalidLink(f"{raw!r}: only http(s) links are accepted")
    host = (parts.hostname or "").lower()
    if host not in {"instagram.com", "www.instagram.com", "m.instagram.com", "instagr.am"}:
        raise InvalidLink(f"{raw!r}: not an Instagram link (host {host or 'missing'})")
    shortcode = instagram_shortcode(raw)
    if not shortcode:
        raise InvalidLink(
            f"{raw!r}: not an Instagram post link (expected instagram.com/p/<code>/ or /reel/<code>/)"
        )
    return CanonicalLink(raw, instagram_post_url(shortcode), shortcode)


def submit_link(conn, url: str, submitted_by: str = "cli") -> ManualLink:
    link = canonical_link(url)
    return add_link(conn, link.submitted, link.canonical, link.partition_key, submitted_by)
