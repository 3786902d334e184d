"""What the reply sensor looks at to decide that an account has work: Postgres first (free),
then at most one cheap Instagram read per account per check, within the spec's call budget.

The cheap reads alternate per account: the activity feed (``news/inbox``: a notification per
comment someone left on the account's media) on most checks, one page of unread DM threads on
every ``dm_inbox_every``-th. Checks are spaced by the spec's ``checks_per_account_per_hour``:
the hour is cut into equal slots and an account is read at most once per slot, however often
the sensor ticks. Paging through comments, reading threads and replying happen in the run.

The per-account state (last slot, number of checks, newest activity already acted on, whether
the account was paused at the last tick) lives in the sensor's cursor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

from lomba_pipeline.ig_ops import store
from lomba_pipeline.ig_ops.spec import LaneSpec
from lomba_pipeline.resources.instagram_ops import InstagramCallFailed


@dataclass
class WatchState:
    slot: int | None = None  # the last slot in which Instagram was read for the account
    checks: int = 0  # reads so far: picks the activity feed or the DM inbox
    activity_seen: float = 0.0  # Instagram timestamp of the newest notification acted on
    paused: bool = False  # stopped or cooling down at the last tick

    def next_read(self, spec: LaneSpec) -> str:
        every = spec.watch.dm_inbox_every
        return "dms" if self.checks % every == every - 1 else "comments"


def load_states(cursor: str | None) -> dict[str, WatchState]:
    try:
        raw = json.loads(cursor) if cursor else {}
    except ValueError:
        raw = {}  # a cursor of an older sensor version: start afresh
    if not isinstance(raw, dict):
        return {}
    fields = set(WatchState.__dataclass_fields__)
    return {
        account: WatchState(**{k: v for k, v in state.items() if k in fields})
        for account, state in raw.items()
        if isinstance(state, dict)
    }


def dump_states(states: dict[str, WatchState]) -> str:
    return json.dumps({a: asdict(s) for a, s in sorted(states.items())}, sort_keys=True)


def slot_of(now: datetime, spec: LaneSpec) -> int:
    return int(now.timestamp() // spec.watch.seconds_between_checks)


def postgres_work(conn, account_id: str, now: datetime, spec: LaneSpec) -> str | None:
    """Work the database already shows (no Instagram call needed to know)."""
    from lomba_pipeline.ig_ops.lanes import budget_left

    if store.actions_with_status(conn, account_id, "sending", limit=1):
        return "sending actions"
    planned = store.actions_with_status(conn, account_id, "planned")
    allowance = budget_left(conn, account_id, now, spec)
    if any(
        a.kind not in allowance or (allowance[a.kind] > 0 and allowance["day"] > 0)
        for a in planned
    ):
        return "planned actions"  # what only waits for the budget is no reason for a run
    if any(count < 0 for count, _newest in store.watermarks(conn, account_id).values()):
        # the last run left comments for a later look (run budget, LLM draft to retry)
        return "comments left for a later look"
    return None


def check_account(
    postgres, gateway_factory, account_id: str, now: datetime, spec: LaneSpec, state: WatchState
) -> str | None:
    """A reason to launch a reply run for the account now, or None; updates ``state``."""
    with postgres.connection() as conn:
        if store.stopped(conn, account_id) or store.in_cooldown(conn, account_id, now):
            state.paused = True
            return None
        if state.paused:
            # whatever arrived during the pause (or failed before it) gets a look now
            state.paused = False
            return "a look after the pause"
        found = postgres_work(conn, account_id, now, spec)
        if found:
            return found
        slot = slot_of(now, spec)
        if state.slot == slot:
            return None  # this slot's Instagram read was spent
        seen = store.watermarks(conn, account_id)
    read = state.next_read(spec)
    state.slot, state.checks = slot, state.checks + 1
    try:
        gateway = gateway_factory(account_id)
        if read == "dms":
            return _unanswered_dms(postgres, account_id, gateway.unread_dm_page())
        return _new_comments(gateway.comment_activity(), seen, state)
    except InstagramCallFailed as exc:
        return f"check failed ({exc.operation}): the run records it"


def _new_comments(notices, seen: dict, state: WatchState) -> str | None:
    """Notifications newer than the last acted on, of comments past the media's watermark."""
    fresh = [
        n
        for n in notices
        if n.at > state.activity_seen
        and (seen.get(n.media_pk, (0, None))[1] is None
             or int(n.comment_pk) > int(seen[n.media_pk][1]))
    ]
    if notices:
        # a notification triggers one look at most (a threaded reply stays past the watermark)
        state.activity_seen = max(state.activity_seen, max(n.at for n in notices))
    return "new comments" if fresh else None


def _unanswered_dms(postgres, account_id: str, unread) -> str | None:
    # a DM already answered, rejected or waiting for approval stays "unread": skip it
    with postgres.connection() as conn:
        for m in unread:
            key = f"dm_reply:{account_id}:{m.thread_id}:{m.item_id}"
            if not store.action_exists(conn, key):
                return "unread DMs"
    return None
