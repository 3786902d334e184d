"""ETag / Last-Modified of the feeds and list pages a crawl read in full, for conditional
requests next pass; for a list page also what it held (``page_state``), which stands in for the
body when the server answers "304 Not Modified"."""

from __future__ import annotations

import json

from psycopg2.extras import execute_values


def load_validators(conn, source_names, settled=None) -> dict[str, dict]:
    """url -> {"etag": ..., "last_modified": ...} (only the values the server gave), plus
    "page" for list pages. List pages of every source in ``source_names``; feeds only of the
    sources in ``settled`` (default: all of them), since a feed's 304 leaves nothing to read and
    must not hide an item that still waits for extraction."""
    settled = set(source_names if settled is None else settled)
    with conn.cursor() as cur:
        cur.execute(
            """SELECT url, source_name, etag, last_modified, page_state FROM crawl_validators
               WHERE source_name = ANY(%s)""",
            (list(source_names),),
        )
        found = {}
        for url, source, etag, modified, page in cur.fetchall():
            if page is None and source not in settled:
                continue
            entry = {k: v for k, v in (("etag", etag), ("last_modified", modified)) if v}
            if page is not None:
                entry["page"] = page
            found[url] = entry
        return found


def save_validators(conn, source_name: str, validators: dict[str, dict]) -> None:
    """Upsert; call only once what the answer held is stored, or a later 304 would lose it."""
    if not validators:
        return
    with conn.cursor() as cur:
        execute_values(
            cur,
            """INSERT INTO crawl_validators (url, source_name, etag, last_modified, page_state)
               VALUES %s
               ON CONFLICT (url) DO UPDATE SET source_name = EXCLUDED.source_name,
                   etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
                   page_state = EXCLUDED.page_state, updated_at = now()""",
            [
                (
                    url,
                    source_name,
                    v.get("etag"),
                    v.get("last_modified"),
                    json.dumps(v["page"], default=str) if "page" in v else None,
                )
                for url, v in validators.items()
            ],
        )
