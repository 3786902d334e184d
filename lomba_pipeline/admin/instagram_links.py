"""Manually submitted Instagram post links: validation, canonical form, the ``manual_links`` row.

Only links to one post (``/p/<shortcode>``, ``/reel/…``, ``/tv/…``, optionally behind a username
as the app shares them) are accepted; profiles, stories, other sites are refused with a message
that says why. The canonical form is ``https://www.instagram.com/p/<shortcode>/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from lomba_pipeline.db.events import record_event
from lomba_pipeline.partitions import link_partition_key

INSTAGRAM_HOSTS = {"instagram.com", "www.instagram.com", "m.instagram.com", "instagr.am"}
_POST_PATH = re.compile(r"^/(?:[A-Za-z0-9._]{1,30}/)?(?:p|reel|reels|tv)/([A-Za-z0-9_-]{5,40})/?$")
MAX_URL_LENGTH = 500


class InvalidInstagramLink(ValueError):
    """The submitted text is not a link to one Instagram post; the message names it."""


def canonical_instagram_post_url(url: str) -> str:
    raw = (url or "").strip()
    if not raw:
        raise InvalidInstagramLink("link kosong: tempelkan tautan postingan Instagram")
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidInstagramLink(f"{shown}: tautan terlalu panjang")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"}:
        raise InvalidInstagramLink(f"{shown}: bukan tautan http(s)")
    host = (parts.hostname or "").lower()
    if host not in INSTAGRAM_HOSTS:
        raise InvalidInstagramLink(f"{shown}: bukan tautan Instagram (host {host or '-'})")
    match = _POST_PATH.match(parts.path)
    if not match:
        raise InvalidInstagramLink(
            f"{shown}: bukan tautan satu postingan Instagram "
            "(harus berbentuk instagram.com/p/KODE/ atau /reel/KODE/)"
        )
    return f"https://www.instagram.com/p/{match.group(1)}/"


@dataclass(frozen=True)
class SubmittedLink:
    id: int
    canonical_url: str
    partition_key: str
    created: bool  # False when the same post was already submitted


def submit_manual_link(conn, url: str, *, submitted_by: str) -> SubmittedLink:
    """Insert (or find) the link; the ingestion sensor picks up new rows."""
    canonical = canonical_instagram_post_url(url)
    key = link_partition_key(canonical)
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO manual_links (url, canonical_url, partition_key, submitted_by)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (canonical_url) DO NOTHING
            RETURNING id
            """,
            (url.strip(), canonical, key, submitted_by),
        )
        row = cur.fetchone()
        if row is None:
            cur.execute("SELECT id FROM manual_links WHERE canonical_url = %s", (canonical,))
            return SubmittedLink(cur.fetchone()[0], canonical, key, False)
    record_event(
        conn, actor=submitted_by, kind="manual_link.submitted", subject=f"manual_link:{row[0]}",
        data={"url": canonical, "partition_key": key},
    )
    return SubmittedLink(row[0], canonical, key, True)
