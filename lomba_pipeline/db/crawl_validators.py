"""ETag / Last-Modified of the feeds a crawl read in full, for conditional requests next pass."""

from __future__ import annotations

from psycopg2.extras import execute_values


def load_validators(conn) -> dict[str, dict[str, str]]:
    """url -> {"etag": ..., "last_modified": ...} (only the values the server gave)."""
    with conn.cursor() as cur:
        cur.execute("SELECT url, etag, last_modified FROM crawl_validators")
        return {
            url: {k: v for k, v in (("etag", etag), ("last_modified", modified)) if v}
            for url, etag, modified in cur.fetchall()
        }


def save_validators(conn, validators: dict[str, dict[str, str]]) -> None:
    """Upsert; call only once what the answer held is stored, or a later 304 would lose it."""
    if not validators:
        return
    with conn.cursor() as cur:
        execute_values(
            cur,
            """INSERT INTO crawl_validators (url, etag, last_modified) VALUES %s
               ON CONFLICT (url) DO UPDATE SET etag = EXCLUDED.etag,
                   last_modified = EXCLUDED.last_modified, updated_at = now()""",
            [(url, v.get("etag"), v.get("last_modified")) for url, v in validators.items()],
        )
