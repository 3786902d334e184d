"""ETag / Last-Modified of the feeds a crawl read in full, for conditional requests next pass."""

from __future__ import annotations

from psycopg2.extras import execute_values


def load_validators(conn, source_names) -> dict[str, dict[str, str]]:
    """url -> {"etag": ..., "last_modified": ...} (only the values the server gave) of the feeds
    of ``source_names``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT url, etag, last_modified FROM crawl_validators WHERE source_name = ANY(%s)",
            (list(source_names),),
        )
        return {
            url: {k: v for k, v in (("etag", etag), ("last_modified", modified)) if v}
            for url, etag, modified in cur.fetchall()
        }


def save_validators(conn, source_name: str, validators: dict[str, dict[str, str]]) -> None:
    """Upsert; call only once what the answer held is stored, or a later 304 would lose it."""
    if not validators:
        return
    with conn.cursor() as cur:
        execute_values(
            cur,
            """INSERT INTO crawl_validators (url, source_name, etag, last_modified) VALUES %s
               ON CONFLICT (url) DO UPDATE SET source_name = EXCLUDED.source_name,
                   etag = EXCLUDED.etag,
                   last_modified = EXCLUDED.last_modified, updated_at = now()""",
            [
                (url, source_name, v.get("etag"), v.get("last_modified"))
                for url, v in validators.items()
            ],
        )
