"""What each part of an extraction run did (the plan, then each shard attempt), kept in Postgres
because the parts may run on different machines and hand nothing to each other in memory."""

from __future__ import annotations

import os
import socket
from typing import Any

from psycopg2.extras import Json, RealDictCursor

from lomba_pipeline.catalog.extraction.runner import ExtractionSummary

PLAN_PART = "plan"


def this_worker() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def save_report(conn, run_id: str, part: str, summary: ExtractionSummary, seq: int,
                extra: dict[str, Any] | None = None) -> None:
    """Upsert a part's running summary; an older snapshot never overwrites a newer one (the
    threads of a shard commit in any order)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO extraction_shard_reports (run_id, part, worker, seq, summary) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (run_id, part) DO UPDATE SET "
            "seq = EXCLUDED.seq, summary = EXCLUDED.summary, updated_at = now() "
            "WHERE extraction_shard_reports.seq < EXCLUDED.seq",
            (run_id, part, this_worker(), seq, Json({**summary.to_json(), **(extra or {})})),
        )


def forget_old_reports(conn, days: int = 14) -> int:
    """Reports only serve their run's summary (and a look back); keep two weeks."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM extraction_shard_reports "
                    "WHERE updated_at < now() - make_interval(days => %s)", (days,))
        return cur.rowcount


def plan_of(conn, run_id: str) -> dict[str, Any]:
    with conn.cursor() as cur:
        cur.execute("SELECT summary FROM extraction_shard_reports WHERE run_id = %s AND part = %s",
                    (run_id, PLAN_PART))
        return cur.fetchone()[0]


def run_reports(conn, run_id: str) -> list[dict[str, Any]]:
    """Every part of the run, the plan first, with seconds since the plan was saved."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT part, worker, summary, extract(epoch FROM now() - min(updated_at) "
            "FILTER (WHERE part = %s) OVER ())::float AS since_plan "
            "FROM extraction_shard_reports WHERE run_id = %s "
            "ORDER BY part <> %s, part",
            (PLAN_PART, run_id, PLAN_PART),
        )
        return list(cur.fetchall())
