"""Raw items: store scraped items once per canonical URL, and decide what needs extraction.

Dedup rule: an item whose canonical URL is already stored is not inserted again. If its
competition record has every AI field (organizer, start_date, end_date, categories, levels) it is
skipped; otherwise it is marked ``needs_extraction`` again. Re-running a window therefore writes
nothing new.

Web items carry ``card_hash`` (what their list card said). A known item whose card changed, or
whose detail page failed last time and answered now, has its stored text refreshed; an unchanged
card leaves the row as it is. ``skippable_details`` names the items a crawl need not open again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from psycopg2.extras import execute_values

from lomba_pipeline.catalog.sources.items import ScrapedItem

COMPLETE = (
    "c.organizer IS NOT NULL AND c.start_date IS NOT NULL AND c.end_date IS NOT NULL"
    " AND cardinality(c.categories) > 0 AND cardinality(c.levels) > 0"
)

# outcomes of store_items, per item
NEW = "new"
REQUEUED = "re-queued for extraction"
PENDING = "already stored, extraction pending"
COMPLETE_SKIPPED = "already stored and complete, skipped"


@dataclass(frozen=True)
class StoredItem:
    item: ScrapedItem
    raw_item_id: int
    outcome: str
    refreshed: bool = False  # a known row whose stored text was updated from a changed card


def skippable_details(conn, source_names: list[str]) -> dict[str, str]:
    """canonical URL -> card hash of the web items whose detail page need not be fetched again
    while their card is unchanged: complete, not queued, and last detail read without error."""
    if not source_names:
        return {}
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT r.canonical_url, r.card_hash
                FROM raw_items r JOIN competitions c ON c.raw_item_id = r.id
                WHERE r.source_kind = 'web' AND r.source_name = ANY(%s)
                  AND r.card_hash IS NOT NULL AND NOT r.needs_extraction
                  AND NOT (r.hints ? 'detail_error') AND {COMPLETE}""",
            (list(source_names),),
        )
        return dict(cur.fetchall())


def settled_sources(conn, source_kind: str, source_names: list[str]) -> set[str]:
    """The sources with stored items, every one complete and none queued for extraction: only
    these may be asked "changed since?" (seeing an incomplete item re-queues it, and a source
    with nothing stored must be read in full)."""
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT r.source_name
                FROM raw_items r LEFT JOIN competitions c ON c.raw_item_id = r.id
                WHERE r.source_kind = %s AND r.source_name = ANY(%s)
                GROUP BY r.source_name
                HAVING bool_and(NOT r.needs_extraction AND c.id IS NOT NULL
                                AND COALESCE({COMPLETE}, false))""",
            (source_kind, list(source_names)),
        )
        return {row[0] for row in cur.fetchall()}


def store_items(conn, items: list[ScrapedItem], window_start: datetime | None) -> list[StoredItem]:
    """Insert new items, re-queue incomplete known ones; one result per distinct canonical URL.
    Stored text is bounded (``ScrapedItem.bounded``); a cut caption stays whole in the payload."""
    unique: dict[str, ScrapedItem] = {}
    for item in items:
        # a batch must not repeat a conflict key
        unique.setdefault(item.canonical_url, item.bounded())
    if not unique:
        return []
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT r.id, r.canonical_url, r.needs_extraction,
                       (c.id IS NOT NULL AND {COMPLETE}) AS complete,
                       r.card_hash, r.hints ? 'detail_error' AS detail_failed
                FROM raw_items r LEFT JOIN competitions c ON c.raw_item_id = r.id
                WHERE r.canonical_url = ANY(%s)""",
            (list(unique),),
        )
        known = {row[1]: row for row in cur.fetchall()}
        fresh = [item for url, item in unique.items() if url not in known]
        inserted: dict[str, int] = {}
        if fresh:
            rows = execute_values(
                cur,
                """INSERT INTO raw_items (source_kind, source_name, canonical_url, external_id,
                       title, caption, image_url, posted_at, window_start, hints, payload,
                       card_hash)
                   VALUES %s ON CONFLICT (canonical_url) DO NOTHING
                   RETURNING id, canonical_url""",
                [
                    (
                        i.source_kind,
                        i.source_name,
                        i.canonical_url,
                        i.external_id,
                        i.title,
                        i.caption,
                        i.image_url,
                        i.posted_at,
                        window_start,
                        json.dumps(i.hints, default=str),
                        json.dumps(i.payload, default=str),
                        i.card_hash,
                    )
                    for i in fresh
                ],
                fetch=True,
            )
            inserted = {url: row_id for row_id, url in rows}
        refreshed = _refresh_changed(cur, unique, known)
        requeue = [row[0] for row in known.values() if not row[3] and not row[2]]
        if requeue:
            cur.execute(
                "UPDATE raw_items SET needs_extraction = true WHERE id = ANY(%s)", (requeue,)
            )
        # a concurrent run may have inserted between our SELECT and INSERT
        missing = [url for url in unique if url not in known and url not in inserted]
        if missing:
            cur.execute(
                "SELECT id, canonical_url FROM raw_items WHERE canonical_url = ANY(%s)",
                (missing,),
            )
            late = {url: row_id for row_id, url in cur.fetchall()}
        else:
            late = {}
    results = []
    for url, item in unique.items():
        if url in inserted:
            results.append(StoredItem(item, inserted[url], NEW))
        elif url in late:
            results.append(StoredItem(item, late[url], PENDING))
        else:
            row_id, _, needs, complete = known[url][:4]
            if complete:
                outcome = COMPLETE_SKIPPED
            else:
                outcome = PENDING if needs else REQUEUED
            results.append(StoredItem(item, row_id, outcome, refreshed=url in refreshed))
    return results


def _refresh_changed(cur, unique: dict[str, ScrapedItem], known: dict) -> set[str]:
    """Update known rows from their new card/detail when the card changed or the last detail
    failed and this one did not; record the hash of rows stored before hashes existed.
    Text the new item lacks is kept (a failed detail must not erase a stored description)."""
    refreshed = set()
    for url, row in known.items():
        item = unique[url]
        if item.card_hash is None:
            continue
        stored_hash, detail_failed = row[4], row[5]
        changed = stored_hash is not None and stored_hash != item.card_hash
        recovered = detail_failed and "detail_error" not in item.hints
        if not (changed or recovered):
            if stored_hash is None:
                cur.execute(
                    "UPDATE raw_items SET card_hash = %s WHERE id = %s", (item.card_hash, row[0])
                )
            continue
        cur.execute(
            """UPDATE raw_items SET title = COALESCE(%(title)s, title),
                   caption = COALESCE(%(caption)s, caption),
                   image_url = COALESCE(%(image_url)s, image_url),
                   -- a new poster link: the stored poster no longer shows this card's picture
                   image_id = CASE WHEN %(image_url)s IS DISTINCT FROM image_url
                                    AND %(image_url)s IS NOT NULL THEN NULL ELSE image_id END,
                   image_error = CASE WHEN %(image_url)s IS DISTINCT FROM image_url
                                       AND %(image_url)s IS NOT NULL THEN NULL ELSE image_error END,
                   hints = (hints - 'detail_error') || %(hints)s::jsonb,
                   payload = payload || %(payload)s::jsonb,
                   card_hash = %(card_hash)s, last_seen_at = now()
               WHERE id = %(id)s""",
            {
                "title": item.title,
                "caption": item.caption,
                "image_url": item.image_url,
                "hints": json.dumps(item.hints, default=str),
                "payload": json.dumps(item.payload, default=str),
                "card_hash": item.card_hash,
                "id": row[0],
            },
        )
        refreshed.add(url)
    return refreshed


def has_items_from(conn, source_kind: str, source_name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM raw_items WHERE source_kind = %s AND source_name = %s)",
            (source_kind, source_name),
        )
        return cur.fetchone()[0]


def count_items(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw_items")
        return cur.fetchone()[0]
