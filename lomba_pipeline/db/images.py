"""Poster images: content-addressed rows, and the queue of raw items still lacking a poster."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PendingPoster:
    raw_item_id: int
    image_url: str
    source_kind: str
    source_name: str


def pending_posters(conn, limit: int = 500) -> list[PendingPoster]:
    """Items with a poster URL but neither a stored image nor a recorded error."""
    with conn.cursor() as cur:
        cur.execute(
            """SELECT id, image_url, source_kind, source_name FROM raw_items
               WHERE image_id IS NULL AND image_error IS NULL AND image_url IS NOT NULL
               ORDER BY id LIMIT %s""",
            (limit,),
        )
        return [PendingPoster(*row) for row in cur.fetchall()]


def image_id_by_sha(conn, sha256: str) -> int | None:
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM images WHERE sha256 = %s", (sha256,))
        row = cur.fetchone()
        return row[0] if row else None


def record_image(conn, stored, info) -> tuple[int, bool]:
    """(images.id, created) for a stored object; the same bytes map to the same row."""
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO images (sha256, object_key, public_url, content_type, size_bytes,
                   width, height, phash)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (sha256) DO NOTHING RETURNING id""",
            (
                stored.sha256,
                stored.key,
                stored.public_url,
                info.content_type,
                info.size_bytes,
                info.width,
                info.height,
                info.phash,
            ),
        )
        row = cur.fetchone()
        if row:
            return row[0], True
    return image_id_by_sha(conn, stored.sha256), False


def attach_image(conn, raw_item_id: int, image_id: int) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE raw_items SET image_id = %s, image_error = NULL WHERE id = %s",
            (image_id, raw_item_id),
        )


def record_image_error(conn, raw_item_id: int, error: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE raw_items SET image_error = %s WHERE id = %s", (error[:500], raw_item_id)
        )
