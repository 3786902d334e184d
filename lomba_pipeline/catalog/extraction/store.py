"""SQL for extraction: the per-record write (record + ledger + flag) and the catalog reports.
What is pending and who works on it: ``claims.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg2.extras import Json, RealDictCursor

from lomba_pipeline.catalog.extraction.chain import Item, Outcome, Poster
from lomba_pipeline.catalog.extraction.claims import holds_claim
from lomba_pipeline.catalog.extraction.record import DATA_FIELDS, CompetitionRecord
from lomba_pipeline.catalog.review.duplicates import refresh_duplicate_candidates
from lomba_pipeline.db.events import record_event
from lomba_pipeline.resources.ai import RetryPolicy

AI_PROVIDERS = ("zhipu", "mistral", "gemini")

SOURCE_LABEL = {"web": "Web", "ig": "IG", "manual": "Manual"}


def item_from_row(row: dict[str, Any]) -> Item:
    poster = None
    if row["image_id"] is not None:
        poster = Poster(row["image_id"], row["public_url"], row["object_key"],
                        row["content_type"] or "image/jpeg")
    posted = row["posted_at"]
    return Item(
        raw_item_id=row["id"],
        caption=row["caption"],
        title=row["title"],
        posted_at=posted.date() if isinstance(posted, dt.datetime) else posted,
        hints=row["hints"] or {},
        poster=poster,
        source=f"{SOURCE_LABEL.get(row['source_kind'], row['source_kind'])} {row['source_name']}",
    )


def mark_extracted(conn, raw_item_id: int) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE raw_items SET needs_extraction = false, extraction_claimed_by = NULL, "
                    "extraction_claimed_at = NULL WHERE id = %s", (raw_item_id,))


class ClaimLost(Exception):
    """The item's claim passed to another shard (this one was silent past the lease)."""


def existing_record(conn, raw_item_id: int) -> CompetitionRecord | None:
    """The stored record, so a re-extraction never loses a value found earlier."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("SELECT * FROM competitions WHERE raw_item_id = %s", (raw_item_id,))
        row = cur.fetchone()
    if row is None:
        return None
    values = {name: row[name] for name in DATA_FIELDS if name in row}
    record = CompetitionRecord.model_validate(values)
    record.extracted_from = dict(row["extracted_from"] or {})
    return record


_COLUMNS = [name for name in DATA_FIELDS]


def next_try(
    row: dict[str, Any], outcome: Outcome, policy: RetryPolicy, now: dt.datetime
) -> tuple[str, int, dt.datetime | None, bool]:
    """(status, tries, not retried before, still queued) after this pass.

    Only a pass that called an AI provider counts against the ceiling (the rules cost nothing).
    After the last allowed pass an unfinished item leaves the queue as ``partial`` for review."""
    tries = row.get("extraction_tries") or 0
    status = outcome.status
    if status == "done":
        return status, tries, None, False
    if not any(a.provider in AI_PROVIDERS for a in outcome.attempts):
        return status, tries, None, status == "failed"
    tries += 1
    if tries >= policy.max_attempts:
        return "partial", tries, None, False
    return status, tries, now + policy.delay_after(tries), status == "failed"


def write_outcome(
    conn, row: dict[str, Any], outcome: Outcome, policy: RetryPolicy | None = None,
    now: dt.datetime | None = None, claimer: str | None = None,
) -> str:
    """One transaction per record: the upserted record, its ledger rows, the queue flag and the
    retry bookkeeping, and the claim released. Returns the stored extraction status.

    With ``claimer``, raises ``ClaimLost`` (writing nothing) unless that claim still holds."""
    policy = policy or RetryPolicy()
    now = now or dt.datetime.now(dt.UTC)
    if claimer is not None and not holds_claim(conn, row["id"], claimer):
        raise ClaimLost(f"raw_item {row['id']}: claimed by another shard meanwhile")
    status, tries, next_at, queued = next_try(row, outcome, policy, now)
    raw_item_id = row["id"]
    record = outcome.record
    previous = existing_record(conn, raw_item_id)
    if previous is not None:
        record.fill_empty_fields(previous, "previous")
    values = record.model_dump(mode="python")
    params: dict[str, Any] = {name: values[name] for name in _COLUMNS}
    params["fee_waves"] = Json(record.model_dump(mode="json")["fee_waves"])
    params.update(
        raw_item_id=raw_item_id,
        canonical_url=row["canonical_url"],
        image_id=row["image_id"],
        extracted_from=Json(record.extracted_from),
        extraction_status=status,
        extraction_error=outcome.error,
    )
    columns = list(params)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "raw_item_id")
    with conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO competitions ({', '.join(columns)}, extracted_at) "
            f"VALUES ({', '.join('%(' + c + ')s' for c in columns)}, now()) "
            f"ON CONFLICT (raw_item_id) DO UPDATE SET {updates}, "
            "extracted_at = now(), updated_at = now() RETURNING id",
            params,
        )
        competition_id = cur.fetchone()[0]
        for a in outcome.attempts:
            cur.execute(
                "INSERT INTO extraction_attempts (raw_item_id, provider, step, outcome, error, "
                "latency_ms, prompt_tokens, completion_tokens, ocr_pages, cost_usd) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (raw_item_id, a.provider, a.step, a.outcome, a.error, a.latency_ms,
                 a.prompt_tokens, a.completion_tokens, a.pages, a.cost_usd),
            )
        cur.execute(
            "UPDATE raw_items SET needs_extraction = %s, extraction_tries = %s, "
            "extraction_next_at = %s, extraction_claimed_by = NULL, extraction_claimed_at = NULL "
            "WHERE id = %s",
            (queued, tries, next_at, raw_item_id),
        )
    # duplicate candidates are computed when a record is stored, for the review queue
    refresh_duplicate_candidates(conn, competition_id)
    record_event(
        conn, actor="pipeline",
        kind="extract.record_failed" if status == "failed" else "extract.record_stored",
        subject=f"raw_item:{raw_item_id}",
        data={"status": status, "error": outcome.error, "tries": tries,
              "next_try_at": next_at.isoformat() if next_at else None,
              "providers": sorted({a.provider for a in outcome.attempts}),
              "rules_disagree": {k: {"kept": a, "rules": b} for k, (a, b) in outcome.mismatches.items()}},
    )
    return status


def ai_cost_per_day(
    conn, days: int = 14, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Per day (Asia/Jakarta) and provider: calls, tokens, OCR pages and estimated USD cost,
    newest first, for the ``days`` before ``now`` (the database's clock when None)."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            SELECT (created_at AT TIME ZONE 'Asia/Jakarta')::date AS day, provider,
                   count(*) AS calls,
                   count(*) FILTER (WHERE outcome <> 'ok') AS failed_calls,
                   COALESCE(sum(prompt_tokens), 0) AS prompt_tokens,
                   COALESCE(sum(completion_tokens), 0) AS completion_tokens,
                   COALESCE(sum(ocr_pages), 0) AS ocr_pages,
                   COALESCE(sum(cost_usd), 0)::float AS cost_usd
              FROM extraction_attempts
             WHERE provider <> 'rules'
               AND created_at >= coalesce(%s::timestamptz, now()) - make_interval(days => %s)
               AND created_at <= coalesce(%s::timestamptz, now())
             GROUP BY 1, 2
             ORDER BY 1 DESC, 2
            """,
            (now, days, now),
        )
        return list(cur.fetchall())


IMPOSSIBLE_SQL = """
SELECT id, canonical_url, title, start_date, end_date, event_start_date, event_end_date,
       CASE
         WHEN title IS NULL OR btrim(title) = '' THEN 'no title'
         WHEN end_date < start_date THEN 'deadline before registration opens'
         WHEN event_end_date < event_start_date THEN 'event ends before it starts'
         WHEN end_date > current_date + interval '2 years' THEN 'deadline more than 2 years away'
       END AS problem
  FROM competitions
 WHERE (title IS NULL OR btrim(title) = '')
    OR end_date < start_date
    OR event_end_date < event_start_date
    OR end_date > current_date + interval '2 years'
 ORDER BY id
"""


def impossible_records(conn) -> list[dict[str, Any]]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(IMPOSSIBLE_SQL)
        return list(cur.fetchall())


def catalog_fill_rates(conn, fields: tuple[str, ...]) -> tuple[int, dict[str, float], dict[str, int]]:
    """(record count, share of records with each field filled, count per extraction status)."""
    exprs = []
    for name in fields:
        if name in ("categories", "tags", "levels", "contact_phones"):
            exprs.append(f"count(*) FILTER (WHERE cardinality({name}) > 0) AS {name}")
        elif name == "fee_waves":
            exprs.append("count(*) FILTER (WHERE jsonb_array_length(fee_waves) > 0) AS fee_waves")
        else:
            exprs.append(f"count({name}) AS {name}")
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(f"SELECT count(*) AS total, {', '.join(exprs)} FROM competitions")
        row = cur.fetchone()
        cur.execute("SELECT extraction_status, count(*) AS n FROM competitions GROUP BY 1")
        statuses = {r["extraction_status"]: r["n"] for r in cur.fetchall()}
    total = row.pop("total")
    rates = {name: (row[name] / total if total else 0.0) for name in fields}
    return total, rates, statuses
