"""What the reply sensor looks at to decide that an account has work: Postgres first (free),
then at most one cheap Instagram read per account per tick, within the spec's call budget.

Two kinds of cheap read, each on its own evenly spaced timetable (``WatchSpec``): the activity
feed (``news/inbox``: a notification per comment someone left on the account's media) every
``seconds_between_feed_reads``, one page of unread DM threads every
``seconds_between_dm_reads``, halfway between two feed reads. Each account's timetable is
shifted by a fixed fraction of the feed interval (from its id), so ten accounts are read a few
at a time instead of all in one tick. However often the sensor ticks, an account is read at
most once per slot of each kind.

What a read saw goes to the run (``Work.run_config``): the media with new comments, or the DM
inbox, so the run reads only that instead of the recent media and the inbox again. Paging
through comments, reading threads and replying happen in the run.

The per-account state (last slot of each kind, newest activity already acted on, whether the
account was paused at the last tick) lives in the sensor's cursor.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime

from lomba_pipeline.ig_ops import store
from lomba_pipeline.ig_ops.spec import LaneSpec
from lomba_pipeline.resources.instagram_ops import InstagramCallFailed


@dataclass
class WatchState:
    feed_slot: int | None = None  # the last slot in which the activity feed was read
    dm_slot: int | None = None  # the last slot in which the DM inbox was read
    activity_seen: float = 0.0  # Instagram timestamp of the newest notification acted on
    paused: bool = False  # stopped or cooling down at the last tick


@dataclass(frozen=True)
class Work:
    """Why the account gets a run, and what the run needs to look at.

    ``comments_on`` None: the comments of every recent media; a list: only those media.
    ``dms``: whether the run reads the DM inbox. The default is a full look."""

    why: str
    comments_on: list[str] | None = None
    dms: bool = True

    def run_config(self) -> dict:
        if self.comments_on is None and self.dms:
            return {}  # the op's defaults: a full look
        return {"ops": {"plan_replies": {"config": {
            "comments_on": self.comments_on, "dms": self.dms}}}}


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


def account_phase(account_id: str, spec: LaneSpec) -> float:
    """A fixed shift of the account's timetable within one feed interval (stable across
    processes: crc32, not Python's salted hash)."""
    return (zlib.crc32(account_id.encode()) % 1000) / 1000 * spec.watch.seconds_between_feed_reads


def slots_of(account_id: str, now: datetime, spec: LaneSpec) -> tuple[int, int]:
    """The account's current feed slot and DM slot."""
    feed, dms = spec.watch.seconds_between_feed_reads, spec.watch.seconds_between_dm_reads
    t = now.timestamp() - account_phase(account_id, spec)
    return math.floor(t / feed), math.floor((t - feed / 2) / dms)


def read_due(account_id: str, now: datetime, spec: LaneSpec, state: WatchState) -> str | None:
    """The read whose slot has turned ("comments" first, then "dms"), marked spent; or None.
    One read per tick: a DM read due at the same tick as a feed read waits for the next."""
    feed_slot, dm_slot = slots_of(account_id, now, spec)
    if state.feed_slot != feed_slot:
        state.feed_slot = feed_slot
        return "comments"
    if state.dm_slot != dm_slot:
        state.dm_slot = dm_slot
        return "dms"
    return None


def postgres_work(
    conn, account_id: str, now: datetime, spec: LaneSpec, seen: dict
) -> str | None:
    """Work the database already shows (no Instagram call needed to know); ``seen``: the
    account's comment watermarks."""
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
    if any(count < 0 for count, _newest in seen.values()):
        # the last run left comments for a later look (run budget, LLM draft to retry)
        return "comments left for a later look"
    return None


def check_account(
    postgres, gateway_factory, account_id: str, now: datetime, spec: LaneSpec, state: WatchState
) -> Work | None:
    """The work to launch a reply run for now, or None; updates ``state``."""
    with postgres.connection() as conn:
        if store.stopped(conn, account_id) or store.in_cooldown(conn, account_id, now):
            state.paused = True
            return None
        if state.paused:
            # whatever arrived during the pause (or failed before it) gets a look now
            state.paused = False
            return Work("a look after the pause")
        seen = store.watermarks(conn, account_id)
        found = postgres_work(conn, account_id, now, spec, seen)
        if found:
            return Work(found)
        read = read_due(account_id, now, spec, state)
        if read is None:
            return None  # this slot's Instagram read was spent
    try:
        gateway = gateway_factory(account_id)
        if read == "dms":
            return _unanswered_dms(postgres, account_id, gateway.unread_dm_page())
        return _new_comments(gateway.comment_activity(), seen, state)
    except InstagramCallFailed as exc:
        return Work(f"check failed ({exc.operation}): the run records it")


def _new_comments(notices, seen: dict, state: WatchState) -> Work | None:
    """Notifications newer than the last acted on, of comments past the media's watermark:
    a run that reads the comments of those media only."""
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
    if not fresh:
        return None
    media = sorted({n.media_pk for n in fresh})
    return Work(f"new comments ({len(fresh)} on {len(media)} post(s))", comments_on=media,
                dms=False)


def _unanswered_dms(postgres, account_id: str, unread) -> Work | None:
    # a DM already answered, rejected or waiting for approval stays "unread": skip it
    with postgres.connection() as conn:
        for m in unread:
            key = f"dm_reply:{account_id}:{m.thread_id}:{m.item_id}"
            if not store.action_exists(conn, key):
                return Work("unread DMs", comments_on=[], dms=True)
    return None
