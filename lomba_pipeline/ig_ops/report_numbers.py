"""The nightly per-account numbers (lane C) and the summary text for the admin group."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from psycopg2.extras import RealDictCursor

from lomba_pipeline.ig_ops.clock import JAKARTA
from lomba_pipeline.ig_ops.store import cooldown_status

COLUMNS = ["account", "posts", "replies", "dms", "successes", "failures", "cooldown"]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0, 0), JAKARTA)
    return start, start + timedelta(days=1)


def daily_numbers(conn, day: date, now: datetime) -> tuple[list[dict], list[dict]]:
    """(rows per account, error list) for the Jakarta calendar ``day``."""
    start, end = day_bounds(day)
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            SELECT a.account_id AS account,
              (SELECT count(*) FROM ig_actions x WHERE x.account_id = a.account_id
                 AND x.kind = 'post' AND x.status = 'done' AND x.done_at >= %(s)s AND x.done_at < %(e)s) AS posts,
              (SELECT count(*) FROM ig_actions x WHERE x.account_id = a.account_id
                 AND x.kind = 'comment_reply' AND x.status = 'done' AND x.done_at >= %(s)s AND x.done_at < %(e)s) AS replies,
              (SELECT count(*) FROM ig_actions x WHERE x.account_id = a.account_id
                 AND x.kind = 'dm_reply' AND x.status = 'done' AND x.done_at >= %(s)s AND x.done_at < %(e)s) AS dms,
              (SELECT count(*) FROM ig_attempts t WHERE t.account_id = a.account_id AND t.ok
                 AND t.at >= %(s)s AND t.at < %(e)s) AS successes,
              (SELECT count(*) FROM ig_attempts t WHERE t.account_id = a.account_id AND NOT t.ok
                 AND t.at >= %(s)s AND t.at < %(e)s) AS failures
            FROM ig_accounts a WHERE a.enabled ORDER BY a.position
            """,
            {"s": start, "e": end},
        )
        rows = [dict(r) for r in cur.fetchall()]
        cur.execute(
            "SELECT account_id AS account, at, error FROM ig_attempts"
            " WHERE NOT ok AND at >= %s AND at < %s ORDER BY at, id",
            (start, end),
        )
        errors = [dict(r) for r in cur.fetchall()]
    states = {c["account_id"]: c for c in cooldown_status(conn, now)}
    for row in rows:
        state = states.get(row["account"], {})
        until = state.get("cooldown_until")
        row["cooldown"] = until.astimezone(JAKARTA).strftime("s/d %H:%M WIB") if until else "-"
        if state.get("stopped_reason"):
            row["cooldown"] = f"BERHENTI ({state['stopped_reason']})"
        for key in ("posts", "replies", "dms", "successes", "failures"):
            row[key] = int(row[key])
    return rows, errors


def cooldowns_started(conn, day: date) -> list[tuple[str, list[int]]]:
    """Per account, the lengths (minutes) of the cooldowns started on ``day``."""
    start, end = day_bounds(day)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT subject, data->>'minutes' FROM events WHERE kind = 'ig.cooldown_started'"
            " AND (data->>'at')::timestamptz >= %s AND (data->>'at')::timestamptz < %s ORDER BY id",
            (start, end),
        )
        found: dict[str, list[int]] = {}
        for subject, minutes in cur.fetchall():
            found.setdefault(subject.removeprefix("account:"), []).append(int(minutes or 0))
    return sorted(found.items())


def markdown_table(rows: list[dict]) -> str:
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join(":--" if c in ("account", "cooldown") else "--:" for c in COLUMNS) + "|"
    body = ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join([header, rule, *body])


def missing_posts(rows: list[dict]) -> list[str]:
    return [r["account"] for r in rows if r["posts"] == 0]


def summary_text(conn, day: date, now: datetime) -> str:
    """The report as a WhatsApp message (Bahasa Indonesia)."""
    rows, errors = daily_numbers(conn, day, now)
    lines = [f"*Laporan Instagram {day:%d-%m-%Y}*"]
    for r in rows:
        lines.append(
            f"{r['account']}: {r['posts']} post, {r['replies']} balasan, {r['dms']} DM, "
            f"{r['failures']} gagal" + (f", jeda {r['cooldown']}" if r["cooldown"] != "-" else "")
        )
    lines.append(
        "Total: {} post, {} balasan komentar, {} balasan DM, {} gagal.".format(
            sum(r["posts"] for r in rows),
            sum(r["replies"] for r in rows),
            sum(r["dms"] for r in rows),
            sum(r["failures"] for r in rows),
        )
    )
    for r in rows:
        if r["cooldown"].startswith("BERHENTI"):
            lines.append(
                f"PERLU TINDAKAN: {r['account']} dihentikan Instagram: selesaikan verifikasi di "
                f"aplikasi, lalu `lomba accounts login {r['account']}`"
            )
    pauses = cooldowns_started(conn, day)
    if pauses:
        lines.append(
            "Jeda hari ini: "
            + ", ".join(f"{a} {len(m)}x ({'/'.join(f'{x} mnt' for x in m)})" for a, m in pauses)
        )
    missing = missing_posts(rows)
    if missing:
        lines.append("Belum posting hari ini: " + ", ".join(missing))
    if errors:
        lines.append(
            f"Galat ({len(errors)}), terakhir: {errors[-1]['account']}: {errors[-1]['error']}"
        )
    return "\n".join(lines)
