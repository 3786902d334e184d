"""Manual Instagram links: submitted once per canonical post URL, read by the sensor by id."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extras import RealDictCursor


@dataclass(frozen=True)
class ManualLink:
    id: int
    url: str
    canonical_url: str
    partition_key: str
    status: str
    created: bool = False


def add_link(conn, url: str, canonical: str, partition_key: str, submitted_by: str) -> ManualLink:
    """Store a link (idempotent on the canonical URL); ``created`` says whether it was new."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """INSERT INTO manual_links (url, canonical_url, partition_key, submitted_by)
               VALUES (%s, %s, %s, %s) ON CONFLICT (canonical_url) DO NOTHING
               RETURNING id, url, canonical_url, partition_key, status""",
            (url, canonical, partition_key, submitted_by),
        )
        row = cur.fetchone()
        if row:
            return ManualLink(**row, created=True)
        cur.execute(
            """SELECT id, url, canonical_url, partition_key, status FROM manual_links
               WHERE canonical_url = %s""",
            (canonical,),
        )
        return ManualLink(**cur.fetchone())


def links_after(conn, last_id: int, limit: int = 100) -> list[ManualLink]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """SELECT id, url, canonical_url, partition_key, status FROM manual_links
               WHERE id > %s ORDER BY id LIMIT %s""",
            (last_id, limit),
        )
        return [ManualLink(**row) for row in cur.fetchall()]


def link_by_partition(conn, partition_key: str) -> ManualLink | None:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """SELECT id, url, canonical_url, partition_key, status FROM manual_links
               WHERE partition_key = %s""",
            (partition_key,),
        )
        row = cur.fetchone()
        return ManualLink(**row) if row else None


def mark_link(conn, link_id: int, status: str, *, raw_item_id=None, error=None) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """UPDATE manual_links SET status = %s, error = %s,
                   raw_item_id = COALESCE(%s, raw_item_id) WHERE id = %s""",
            (status, error, raw_item_id, link_id),
        )
