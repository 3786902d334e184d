"""What the admin pages show about the operated accounts and their approval queue.

Read-only queries; the numbers come from the same functions as the nightly report
(``report.daily_numbers``, ``store.cooldown_status``) so the panel and the report agree.
"""

from __future__ import annotations

from datetime import datetime

from psycopg2.extras import RealDictCursor

from lomba_pipeline.ig_ops.clock import jakarta_day
from lomba_pipeline.ig_ops.report_numbers import daily_numbers
from lomba_pipeline.ig_ops.spec import active_spec
from lomba_pipeline.ig_ops.store import cooldown_status, list_pending_approvals


def accounts_overview(conn, now: datetime) -> list[dict]:
    """Per account, in position order: cooldown state, today's post and counts, pending approvals."""
    day = jakarta_day(now)
    counts = {r["account"]: r for r in daily_numbers(conn, day, now)[0]}
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("SELECT account_id, enabled FROM ig_accounts")
        enabled = {r["account_id"]: r["enabled"] for r in cur.fetchall()}
        cur.execute(
            "SELECT account_id, count(*) AS n FROM approvals WHERE status = 'pending'"
            " GROUP BY account_id"
        )
        pending = {r["account_id"]: int(r["n"]) for r in cur.fetchall()}
        # today's post action (one per account per day, key post:<account>:<day>)
        cur.execute(
            "SELECT account_id, status FROM ig_actions WHERE kind = 'post' AND idempotency_key"
            " = 'post:' || account_id || ':' || %s",
            (day.isoformat(),),
        )
        post_status = {r["account_id"]: r["status"] for r in cur.fetchall()}
        # the failure count that started the latest cooldown (the live counter restarts at 0)
        cur.execute(
            "SELECT DISTINCT ON (subject) subject, data FROM events"
            " WHERE kind = 'ig.cooldown_started' ORDER BY subject, id DESC"
        )
        cooldown_cause = {r["subject"].removeprefix("account:"): r["data"] for r in cur.fetchall()}
    rows = []
    for state in cooldown_status(conn, now):
        account = state["account_id"]
        today = counts.get(account, {})
        cause = cooldown_cause.get(account, {}) if state["cooldown_until"] else {}
        rows.append(
            {
                **state,
                "enabled": enabled.get(account, True),
                "cooldown_after_failures": cause.get("after_failures"),
                "cooldown_why": cause.get("why"),
                "cooldown_minutes": cause.get("minutes"),
                "posts": today.get("posts", 0),
                "post_status": post_status.get(account),
                "replies": today.get("replies", 0),
                "dms": today.get("dms", 0),
                "failures": today.get("failures", 0),
                "pending_approvals": pending.get(account, 0),
            }
        )
    return rows


def pending_approvals_detail(conn) -> list[dict]:
    """The pending approvals (``store.list_pending_approvals``) with the account's username and,
    for a sensitive DM, the configured words it contains."""
    rows = list_pending_approvals(conn)
    with conn.cursor() as cur:
        cur.execute("SELECT account_id, username FROM ig_accounts")
        usernames = dict(cur.fetchall())
    _version, spec = active_spec(conn)
    for row in rows:
        row["username"] = usernames.get(row["account_id"], "")
        incoming = str((row["target"] or {}).get("incoming", ""))
        row["matched_words"] = [
            w for w in spec.dm_approval_words if w.casefold() in incoming.casefold()
        ]
    return rows


def recent_decisions(conn, limit: int = 20) -> list[dict]:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            SELECT a.id, a.account_id, a.reason, a.status, a.decided_by, a.decided_at, x.kind,
                   x.status AS action_status
            FROM approvals a JOIN ig_actions x ON x.id = a.action_id
            WHERE a.status <> 'pending' ORDER BY a.decided_at DESC, a.id DESC LIMIT %s
            """,
            (limit,),
        )
        return [dict(r) for r in cur.fetchall()]


def approval_state(conn, approval_id: int) -> dict | None:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT id, status, decided_by, decided_at FROM approvals WHERE id = %s",
            (approval_id,),
        )
        row = cur.fetchone()
    return dict(row) if row else None
