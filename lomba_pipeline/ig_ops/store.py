"""Outbound actions, attempts, cooldown and approvals in Postgres.

The action row is the crash-safety contract: it is written as ``sending`` (and committed) before
Instagram is called and closed after, under a unique idempotency key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg2.extras import RealDictCursor

from lomba_pipeline.db.events import record_event


@dataclass(frozen=True)
class Action:
    id: int
    idempotency_key: str
    account_id: str
    kind: str
    target: dict
    text: str
    status: str
    attempts: int
    source: str


def _action(row: dict) -> Action:
    return Action(
        row["id"],
        row["idempotency_key"],
        row["account_id"],
        row["kind"],
        row["target"],
        row["text"],
        row["status"],
        row["attempts"],
        row["source"],
    )


def action_exists(conn, key: str) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM ig_actions WHERE idempotency_key = %s", (key,))
        return cur.fetchone() is not None


def get_action(conn, key: str) -> Action | None:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("SELECT * FROM ig_actions WHERE idempotency_key = %s", (key,))
        row = cur.fetchone()
    return _action(row) if row else None


def record_no_reply(
    conn, *, key: str, account_id: str, kind: str, target: dict, now: datetime,
    spec_version: int | None = None,
) -> bool:
    """Remember an incoming item nothing answers (status ``skipped``), once; True if new.

    The sensor then treats it as handled instead of launching a run for it every minute.
    """
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO ig_actions (idempotency_key, account_id, kind, target, text, source,
                                    status, spec_version, planned_at)
            VALUES (%s, %s, %s, %s, '', 'rules', 'skipped', %s, %s)
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING id
            """,
            (key, account_id, kind, json.dumps(target), spec_version, now),
        )
        created = cur.fetchone() is not None
    if created:
        record_event(
            conn, actor="pipeline", kind="ig.action_skipped", subject=f"account:{account_id}",
            data={"key": key, "kind": kind, "reason": "no rule, template or draft answers it"},
        )
    return created


def plan_action(
    conn,
    *,
    key: str,
    account_id: str,
    kind: str,
    target: dict,
    text: str,
    now: datetime,
    source: str = "rules",
    spec_version: int | None = None,
    approval_reason: str | None = None,
) -> Action | None:
    """Record an outbound action once; None if the key exists (already planned or done)."""
    status = "awaiting_approval" if approval_reason else "planned"
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            INSERT INTO ig_actions (idempotency_key, account_id, kind, target, text, source,
                                    status, spec_version, planned_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING *
            """,
            (key, account_id, kind, json.dumps(target), text, source, status, spec_version, now),
        )
        row = cur.fetchone()
    if row is None:
        return None
    action = _action(row)
    if approval_reason:
        request_approval(conn, action, approval_reason)
    record_event(
        conn,
        actor="pipeline",
        kind=f"ig.action_{status}",
        subject=f"account:{account_id}",
        data={"key": key, "kind": kind, "source": source, "approval": approval_reason},
    )
    return action


def actions_with_status(conn, account_id: str, status: str, limit: int = 500) -> list[Action]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT * FROM ig_actions WHERE account_id = %s AND status = %s ORDER BY id LIMIT %s",
            (account_id, status, limit),
        )
        return [_action(r) for r in cur.fetchall()]


def mark_sending(conn, action_id: int, now: datetime) -> bool:
    """planned → sending; False if someone else took it (two runs never send the same action)."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_actions SET status = 'sending', sending_at = %s, attempts = attempts + 1,"
            " updated_at = now() WHERE id = %s AND status = 'planned'",
            (now, action_id),
        )
        return cur.rowcount == 1


def mark_done(
    conn, action: Action, now: datetime, result: dict[str, Any], *, how: str = "sent"
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_actions SET status = 'done', done_at = %s, result = %s, error = NULL,"
            " updated_at = now() WHERE id = %s",
            (now, json.dumps(result), action.id),
        )
    record_event(
        conn,
        actor="pipeline",
        kind=f"ig.action_{how}",
        subject=f"account:{action.account_id}",
        data={"key": action.idempotency_key, "kind": action.kind, **result},
    )


def mark_not_sent(conn, action: Action, error: str, *, max_attempts: int) -> str:
    """Instagram refused: back to planned for a later try, or failed for good."""
    status = "failed" if action.attempts + 1 >= max_attempts else "planned"
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_actions SET status = %s, error = %s, updated_at = now() WHERE id = %s",
            (status, error[:500], action.id),
        )
    return status


def set_status(conn, action_id: int, status: str, error: str | None = None) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_actions SET status = %s, error = COALESCE(%s, error), updated_at = now()"
            " WHERE id = %s",
            (status, error, action_id),
        )


# -- attempts and cooldown ---------------------------------------------------------------------
def record_attempt(
    conn,
    account_id: str,
    now: datetime,
    *,
    ok: bool,
    error: str | None = None,
    action_id: int | None = None,
    kind: str = "other",
    failure_threshold: int = 3,
    cooldown_steps: tuple[int, ...] = (15, 60, 360),
    block_minutes: int = 360,
) -> bool:
    """Log one Instagram call outcome and act on what Instagram meant.

    ``challenge``: the account stops (a person must clear it); ``feedback`` (action blocked):
    paused for ``block_minutes``; ``relogin_failed``: cooldown at once; anything else: cooldown
    after ``failure_threshold`` consecutive failures. Each cooldown in a row lasts the next step
    of ``cooldown_steps`` (15 min -> 1 h -> 6 h); a success resets the steps.
    Returns True when this failure paused or stopped the account.
    """
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ig_attempts (action_id, account_id, at, ok, error) VALUES (%s, %s, %s, %s, %s)",
            (action_id, account_id, now, ok, (error or "")[:500] or None),
        )
        if ok:
            cur.execute(
                "UPDATE ig_accounts SET consecutive_failures = 0, cooldown_level = 0"
                " WHERE account_id = %s",
                (account_id,),
            )
            return False
        cur.execute(
            "UPDATE ig_accounts SET consecutive_failures = consecutive_failures + 1,"
            " last_error = %s WHERE account_id = %s RETURNING consecutive_failures",
            ((error or "")[:500], account_id),
        )
        failures = cur.fetchone()[0]
    if kind == "challenge":
        stop_account(conn, account_id, now, reason="challenge_required", error=error)
        return True
    if kind == "feedback":
        pause_account(
            conn, account_id, now, minutes=block_minutes, why="feedback_required", error=error
        )
        return True
    if kind != "relogin_failed" and failures < failure_threshold:
        record_event(
            conn,
            actor="pipeline",
            kind="ig.call_failed",
            subject=f"account:{account_id}",
            data={"error": (error or "")[:300], "consecutive": failures, "at": now},
        )
        return False
    with conn.cursor() as cur:
        cur.execute(
            "SELECT cooldown_level FROM ig_accounts WHERE account_id = %s", (account_id,)
        )
        level = cur.fetchone()[0]
    minutes = cooldown_steps[min(level, len(cooldown_steps) - 1)]
    pause_account(
        conn,
        account_id,
        now,
        minutes=minutes,
        why=kind if kind == "relogin_failed" else "failures",
        error=error,
        level=level + 1,
        after_failures=failures,
    )
    return True


def pause_account(
    conn,
    account_id: str,
    now: datetime,
    *,
    minutes: int,
    why: str,
    error: str | None,
    level: int | None = None,
    after_failures: int | None = None,
) -> datetime:
    until = now + timedelta(minutes=minutes)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_accounts SET consecutive_failures = 0, cooldown_until = %s,"
            " cooldown_level = COALESCE(%s, cooldown_level) WHERE account_id = %s",
            (until, level, account_id),
        )
    record_event(
        conn,
        actor="pipeline",
        kind="ig.cooldown_started",
        subject=f"account:{account_id}",
        data={
            "until": until,
            "minutes": minutes,
            "why": why,
            "level": level,
            "after_failures": after_failures,
            "error": (error or "")[:300],
            "at": now,
        },
    )
    return until


def stop_account(conn, account_id: str, now: datetime, *, reason: str, error: str | None) -> None:
    """Instagram wants a person (challenge): no more calls until someone clears the stop."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_accounts SET stopped_reason = %s, stopped_at = %s, consecutive_failures = 0"
            " WHERE account_id = %s AND stopped_reason IS NULL",
            (reason, now, account_id),
        )
        newly = cur.rowcount == 1
    if newly:
        record_event(
            conn,
            actor="pipeline",
            kind="ig.account_stopped",
            subject=f"account:{account_id}",
            data={
                "reason": reason,
                "error": (error or "")[:300],
                "at": now,
                "fix": f"selesaikan verifikasi di aplikasi Instagram, lalu "
                f"`lomba accounts login {account_id}`",
            },
        )


def stopped(conn, account_id: str) -> str | None:
    with conn.cursor() as cur:
        cur.execute("SELECT stopped_reason FROM ig_accounts WHERE account_id = %s", (account_id,))
        row = cur.fetchone()
    return row[0] if row else None


def clear_stop(conn, account_id: str, *, actor: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_accounts SET stopped_reason = NULL, stopped_at = NULL, cooldown_level = 0"
            " WHERE account_id = %s AND stopped_reason IS NOT NULL",
            (account_id,),
        )
        cleared = cur.rowcount == 1
    if cleared:
        record_event(conn, actor=actor, kind="ig.account_resumed", subject=f"account:{account_id}")
    return cleared


def in_cooldown(conn, account_id: str, now: datetime) -> datetime | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT cooldown_until FROM ig_accounts WHERE account_id = %s AND cooldown_until > %s",
            (account_id, now),
        )
        row = cur.fetchone()
    return row[0] if row else None


def cooldown_status(conn, now: datetime) -> list[dict]:
    """Per account: paused until when (None = active), consecutive failures, last error."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            SELECT account_id, username,
                   CASE WHEN cooldown_until > %s THEN cooldown_until END AS cooldown_until,
                   consecutive_failures, last_error, stopped_reason, cooldown_level
            FROM ig_accounts ORDER BY position
            """,
            (now,),
        )
        return [dict(r) for r in cur.fetchall()]


def llm_draft_failures(conn, key: str) -> int:
    """How often the LLM gave no usable draft for the item of action ``key``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM events WHERE kind = 'ig.llm_draft_failed' AND data->>'key' = %s",
            (key,),
        )
        return cur.fetchone()[0]


# -- approvals --------------------------------------------------------------------------------
def _summary(action: Action) -> str:
    what = {"comment_reply": "Balasan komentar", "dm_reply": "Balasan DM", "post": "Postingan"}
    return f"{what.get(action.kind, action.kind)} {action.account_id}: {action.text[:200]}"


def request_approval(conn, action: Action, reason: str) -> int:
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO approvals (action_id, account_id, reason, summary) VALUES (%s, %s, %s, %s)
            ON CONFLICT (action_id) DO UPDATE SET status = 'pending', reason = EXCLUDED.reason,
                decided_by = NULL, decided_at = NULL
            RETURNING id
            """,
            (action.id, action.account_id, reason, _summary(action)),
        )
        approval_id = cur.fetchone()[0]
    record_event(
        conn,
        actor="pipeline",
        kind="ig.approval_requested",
        subject=f"approval:{approval_id}",
        data={"key": action.idempotency_key, "reason": reason},
    )
    return approval_id


def list_pending_approvals(conn) -> list[dict]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            SELECT a.id, a.account_id, a.reason, a.summary, a.requested_at, x.kind, x.text,
                   x.target, x.idempotency_key
            FROM approvals a JOIN ig_actions x ON x.id = a.action_id
            WHERE a.status = 'pending' ORDER BY a.id
            """
        )
        return [dict(r) for r in cur.fetchall()]


class ApprovalError(ValueError):
    pass


def decide_approval(conn, approval_id: int, approved: bool, actor: str) -> dict:
    """Approve (the action is sent on the next tick) or reject (never sent)."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT id, action_id, status FROM approvals WHERE id = %s FOR UPDATE", (approval_id,)
        )
        row = cur.fetchone()
        if row is None:
            raise ApprovalError(f"approval {approval_id} does not exist")
        if row["status"] != "pending":
            raise ApprovalError(f"approval {approval_id} was already {row['status']}")
        status = "approved" if approved else "rejected"
        cur.execute(
            "UPDATE approvals SET status = %s, decided_by = %s, decided_at = now() WHERE id = %s",
            (status, actor, approval_id),
        )
        cur.execute(
            "UPDATE ig_actions SET status = %s, updated_at = now()"
            " WHERE id = %s AND status IN ('awaiting_approval', 'unknown')",
            ("planned" if approved else "rejected", row["action_id"]),
        )
    record_event(
        conn,
        actor=actor,
        kind=f"ig.approval_{status}",
        subject=f"approval:{approval_id}",
        data={"action_id": row["action_id"]},
    )
    return {"id": approval_id, "status": status}


# -- watermarks -------------------------------------------------------------------------------
def watermarks(conn, account_id: str) -> dict[str, tuple[int, str | None]]:
    """Per media: (comment count last seen, newest comment pk handled)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT media_pk, comment_count, newest_comment_pk FROM ig_media_watermarks"
            " WHERE account_id = %s",
            (account_id,),
        )
        return {pk: (count, newest) for pk, count, newest in cur.fetchall()}


def set_watermark(
    conn, account_id: str, media_pk: str, count: int, newest_comment_pk: str | None
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO ig_media_watermarks (account_id, media_pk, comment_count, newest_comment_pk)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (account_id, media_pk) DO UPDATE SET
                comment_count = EXCLUDED.comment_count,
                newest_comment_pk = EXCLUDED.newest_comment_pk
            """,
            (account_id, media_pk, count, newest_comment_pk),
        )


# -- budgets ----------------------------------------------------------------------------------
def sent_since(conn, account_id: str, since: datetime, kinds: tuple[str, ...]) -> int:
    """Actions of ``kinds`` done after ``since`` (by the clock time they were done)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM ig_actions WHERE account_id = %s AND status = 'done'"
            " AND done_at > %s AND kind = ANY(%s)",
            (account_id, since, list(kinds)),
        )
        return cur.fetchone()[0]
