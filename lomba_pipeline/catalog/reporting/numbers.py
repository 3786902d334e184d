"""The day's catalog numbers from Postgres (one Jakarta calendar day, ``[start, end)``)."""

from __future__ import annotations

from datetime import datetime

FIELDS = ("title", "organizer", "start_date", "end_date", "categories", "levels", "fee_amount",
          "prize", "contact", "registration_url")


def _filled(name: str) -> str:
    if name in ("categories", "levels"):
        return f"count(*) FILTER (WHERE cardinality({name}) > 0)"
    if name in ("title", "organizer", "prize", "contact", "registration_url"):
        return f"count(*) FILTER (WHERE coalesce({name}, '') <> '')"
    return f"count({name})"


def catalog_day(conn, start: datetime, end: datetime) -> dict:
    """Records, extraction, AI use, review and broadcasts of the day, plus the first errors."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM raw_items WHERE first_seen_at >= %s AND first_seen_at < %s",
            (start, end),
        )
        new_items = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM competitions WHERE created_at >= %s AND created_at < %s",
            (start, end),
        )
        new_records = cur.fetchone()[0]
        cur.execute(
            "SELECT extraction_status, count(*) FROM competitions"
            " WHERE extracted_at >= %s AND extracted_at < %s GROUP BY 1",
            (start, end),
        )
        statuses = dict(cur.fetchall())
        cur.execute(
            "SELECT count(*), " + ", ".join(_filled(f) for f in FIELDS)
            + " FROM competitions WHERE extracted_at >= %s AND extracted_at < %s",
            (start, end),
        )
        row = cur.fetchone()
        extracted = row[0]
        fill = {f: (row[i + 1] / extracted if extracted else 0.0) for i, f in enumerate(FIELDS)}
        cur.execute(
            """
            SELECT provider, count(*),
                   count(*) FILTER (WHERE outcome <> 'ok'),
                   coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
                   coalesce(sum(ocr_pages), 0), coalesce(sum(cost_usd), 0)::float
            FROM extraction_attempts
            WHERE provider <> 'rules' AND created_at >= %s AND created_at < %s
            GROUP BY provider ORDER BY provider
            """,
            (start, end),
        )
        providers = [
            {"provider": p, "calls": calls, "failed": failed, "prompt_tokens": pt,
             "completion_tokens": ct, "ocr_pages": pages, "cost_usd": round(cost, 6)}
            for p, calls, failed, pt, ct, pages, cost in cur.fetchall()
        ]
        cur.execute(
            """
            SELECT
              count(*) FILTER (WHERE review_status = 'pending'),
              count(*) FILTER (WHERE review_status = 'approved'
                               AND reviewed_at >= %s AND reviewed_at < %s),
              count(*) FILTER (WHERE review_status = 'duplicate'
                               AND reviewed_at >= %s AND reviewed_at < %s)
            FROM competitions
            """,
            (start, end, start, end),
        )
        waiting, approved, marked_duplicate = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM broadcasts WHERE purpose = 'publish' AND status = 'sent'"
            " AND sent_at >= %s AND sent_at < %s",
            (start, end),
        )
        broadcast = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM duplicate_candidates WHERE found_at >= %s AND found_at < %s",
            (start, end),
        )
        duplicate_pairs = cur.fetchone()[0]
        failures = _failures(cur, start, end)
    return {
        "new_items": new_items,
        "new_records": new_records,
        "extracted": extracted,
        "extraction_status": {k: int(v) for k, v in statuses.items()},
        "fill_rate": fill,
        "providers": providers,
        "waiting_for_review": waiting,
        "approved": approved,
        "marked_duplicate": marked_duplicate,
        "broadcast": broadcast,
        "duplicate_pairs_found": duplicate_pairs,
        "failures": failures,
    }


def _failures(cur, start: datetime, end: datetime) -> list[dict]:
    """Each kind of failure of the day, how often, and its first error."""
    cur.execute(
        """
        SELECT what, count(*), (array_agg(error ORDER BY at))[1] FROM (
            SELECT 'extraction ' || provider || ' ' || step AS what, error, created_at AS at
              FROM extraction_attempts
             WHERE outcome <> 'ok' AND created_at >= %s AND created_at < %s
            UNION ALL
            SELECT 'poster', image_error, first_seen_at FROM raw_items
             WHERE image_error IS NOT NULL AND first_seen_at >= %s AND first_seen_at < %s
            UNION ALL
            SELECT 'broadcast ' || purpose, error, created_at FROM broadcasts
             WHERE status IN ('failed', 'unknown') AND created_at >= %s AND created_at < %s
        ) f GROUP BY what ORDER BY what
        """,
        (start, end, start, end, start, end),
    )
    return [{"what": w, "count": n, "first_error": (e or "")[:200]} for w, n, e in cur.fetchall()]
