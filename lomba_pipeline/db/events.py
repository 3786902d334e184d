"""The append-only audit log / events timeline (table ``events``)."""

from __future__ import annotations

import json
from typing import Any

from psycopg2.extras import RealDictCursor


def record_event(
    conn, *, actor: str, kind: str, subject: str | None = None, data: dict[str, Any] | None = None
) -> int:
    """Append one event in the caller's transaction; returns its id.

    ``data`` must never hold secrets: events are shown in the admin panel.
    """
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO events (actor, kind, subject, data) VALUES (%s, %s, %s, %s) RETURNING id",
            (actor, kind, subject, json.dumps(data or {}, default=str)),
        )
        return cur.fetchone()[0]


def record_pipeline_event(
    postgres, kind: str, subject: str | None = None, data: dict[str, Any] | None = None
) -> int:
    """One event by the pipeline, in a transaction of its own (``postgres``: the resource)."""
    with postgres.connection() as conn:
        return record_event(conn, actor="pipeline", kind=kind, subject=subject, data=data)


def list_events(
    conn,
    *,
    kind_prefix: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first, filtered by kind prefix, subject and actor."""
    clauses, params = [], []
    if kind_prefix:
        clauses.append("kind LIKE %s")
        params.append(kind_prefix.replace("%", r"\%").replace("_", r"\_") + "%")
    if subject:
        clauses.append("subject = %s")
        params.append(subject)
    if actor:
        clauses.append("actor = %s")
        params.append(actor)
    if before_id:
        clauses.append("id < %s")
        params.append(before_id)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    params.append(limit)
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(f"SELECT * FROM events {where} ORDER BY id DESC LIMIT %s", params)
        return [dict(r) for r in cur.fetchall()]
