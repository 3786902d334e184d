"""Manually submitted Instagram post links: validation, canonical form, the ``manual_links`` row.

Used by ``lomba links add`` and the admin panel's link form. Only links to one post
(``/p/<shortcode>``, ``/reel/…``, optionally behind a username as the app shares them) are
accepted; profiles, stories and other sites are refused with a message (Bahasa Indonesia, shown to
the person who submitted it) that names the link and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from lomba_pipeline.catalog.sources.items import IG_HOSTS, instagram_post_url, instagram_shortcode
from lomba_pipeline.db.events import record_event
from lomba_pipeline.db.manual_links import ManualLink, add_link
from lomba_pipeline.partitions import link_partition_key

MAX_URL_LENGTH = 500


class InvalidLink(ValueError):
    """A submitted text that is not a link to one Instagram post; the message says why."""


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
        raise InvalidLink("tautan kosong: tempelkan tautan postingan Instagram")
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidLink(f"{shown!r}: tautan terlalu panjang")
    if any(ch.isspace() for ch in raw):
        raise InvalidLink(f"{shown!r}: bukan satu tautan (ada spasi)")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):  # NUL cannot even be stored
        raise InvalidLink(f"{shown!r}: ada karakter kontrol di tautan")
    try:
        parts = urlsplit(raw if "://" in raw else "https://" + raw)
        host = (parts.hostname or "").lower()
        shortcode = instagram_shortcode(raw)
    except ValueError:  # e.g. an unbalanced "[" read as an IPv6 host
        raise InvalidLink(f"{shown!r}: bukan tautan yang bisa dibaca") from None
    if parts.scheme not in {"http", "https"}:
        raise InvalidLink(f"{shown!r}: hanya tautan http(s) yang diterima")
    if host not in IG_HOSTS:
        raise InvalidLink(f"{shown!r}: bukan tautan Instagram (host {host or '-'})")
    if not shortcode:
        raise InvalidLink(
            f"{shown!r}: bukan tautan satu postingan Instagram "
            "(harus berbentuk instagram.com/p/KODE/ atau /reel/KODE/)"
        )
    return CanonicalLink(raw, instagram_post_url(shortcode), shortcode)


def submit_link(conn, url: str, submitted_by: str = "cli") -> ManualLink:
    """Store the link once per post (``created`` says whether it was new); the sensor picks it up."""
    link = canonical_link(url)
    stored = add_link(conn, link.submitted, link.canonical, link.partition_key, submitted_by)
    if stored.created:
        record_event(
            conn, actor=submitted_by, kind="manual_link.submitted",
            subject=f"manual_link:{stored.id}",
            data={"url": link.canonical, "partition_key": link.partition_key},
        )
    return stored
