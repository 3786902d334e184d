"""What the lanes do, as plain functions over Postgres and an ``InstagramOpsGateway``.

Dagster ops (``jobs.py``), the sensor and the benchmark call these; each step is its own short
transaction so that an action is committed as ``sending`` before Instagram is called.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from lomba_pipeline.db.events import record_event, record_pipeline_event
from lomba_pipeline.ig_ops import store
from lomba_pipeline.ig_ops.accounts import account_credentials, get_account
from lomba_pipeline.ig_ops.compose import DraftFailed, ReplyDrafter, compose, wants_draft
from lomba_pipeline.ig_ops.content_store import next_stored_item
from lomba_pipeline.ig_ops.spec import LaneSpec, active_spec
from lomba_pipeline.media.variant import make_variant
from lomba_pipeline.resources.instagram_ops import InstagramCallFailed, InstagramOpsGateway

MAX_ATTEMPTS_PER_ACTION = 5
# an item whose LLM draft failed this often is left to the rules (default template or silence)
LLM_DRAFT_TRIES = 3


class LaneFailed(RuntimeError):
    """Some Instagram calls failed and the account is not in cooldown: let the op retry."""


@dataclass
class LaneResult:
    planned: int = 0
    awaiting_approval: int = 0
    sent: int = 0
    reconciled: int = 0
    resend: int = 0
    unknown: int = 0
    failures: list[str] = field(default_factory=list)
    cooldown_until: datetime | None = None
    stopped: str | None = None  # Instagram wants a person (challenge): no retry loop
    deferred: int = 0  # over the action budget: sent in a later window
    relogins: int = 0
    skipped: str | None = None
    llm_drafts: int = 0  # drafts put in the approval queue
    llm_failures: int = 0  # drafter asked, nothing usable (recorded as ig.llm_draft_failed)
    llm_deferred: int = 0  # over llm_max_drafts_per_run: looked at again next tick

    def as_metadata(self) -> dict:
        return {
            "planned": self.planned,
            "awaiting_approval": self.awaiting_approval,
            "sent": self.sent,
            "reconciled": self.reconciled,
            "resend": self.resend,
            "unknown": self.unknown,
            "failures": len(self.failures),
            "cooldown_until": str(self.cooldown_until) if self.cooldown_until else "",
            "stopped": self.stopped or "",
            "deferred_by_budget": self.deferred,
            "relogins": self.relogins,
            "skipped": self.skipped or "",
            "llm_drafts": self.llm_drafts,
            "llm_draft_failures": self.llm_failures,
            "llm_deferred": self.llm_deferred,
        }

    @property
    def paused(self) -> bool:
        return self.cooldown_until is not None or self.stopped is not None

    def raise_if_retry_needed(self) -> None:
        if self.failures and not self.paused:
            raise LaneFailed("; ".join(self.failures[:5]))


def current_spec(postgres) -> tuple[int | None, LaneSpec]:
    with postgres.connection() as conn:
        return active_spec(conn)


def open_gateway(postgres, ig_ops, account_id: str, now=None) -> InstagramOpsGateway:
    with postgres.connection() as conn:
        account = get_account(conn, account_id)
        creds = account_credentials(conn, ig_ops.secret_box(), account_id)
    return ig_ops.gateway(postgres, account_id, account.username, creds, now)


def gateway_or_cooldown(
    postgres, ig_ops, account_id: str, now: datetime
) -> InstagramOpsGateway | None:
    """A gateway for the account; a failed login counts as a failure like any other call.

    None when the account is (or just went) in cooldown; raises for the op to retry otherwise.
    """
    result = LaneResult()
    if cooled(postgres, account_id, now, result):
        return None
    try:
        return open_gateway(postgres, ig_ops, account_id, now)
    except InstagramCallFailed as exc:
        _version, spec = current_spec(postgres)
        _outcome(postgres, result, account_id, now, spec, error=exc)
        if result.paused:
            return None
        raise


def _outcome(
    postgres,
    result: LaneResult,
    account_id: str,
    now: datetime,
    spec: LaneSpec,
    *,
    error: InstagramCallFailed | str | None = None,
    action_id: int | None = None,
    gateway: InstagramOpsGateway | None = None,
) -> None:
    """Record one call's outcome; a failure may pause (cooldown, block) or stop the account."""
    kind = error.kind if isinstance(error, InstagramCallFailed) else "other"
    if gateway is not None and getattr(gateway, "relogged", False) and not result.relogins:
        result.relogins = 1
        record_pipeline_event(
            postgres,
            kind="ig.session_renewed",
            subject=f"account:{account_id}",
            data={"at": now},
        )
    with postgres.connection() as conn:
        paused = store.record_attempt(
            conn,
            account_id,
            now,
            ok=error is None,
            error=str(error) if error else None,
            action_id=action_id,
            kind=kind,
            failure_threshold=spec.failure_threshold,
            cooldown_steps=spec.cooldown_steps,
            block_minutes=spec.block_cooldown_minutes,
        )
        if paused:
            result.stopped = store.stopped(conn, account_id)
            result.cooldown_until = store.in_cooldown(conn, account_id, now)
    if error:
        result.failures.append(str(error))


def cooled(postgres, account_id: str, now: datetime, result: LaneResult) -> bool:
    """True when the account is stopped or in cooldown (the lane does nothing then)."""
    with postgres.connection() as conn:
        reason = store.stopped(conn, account_id)
        until = store.in_cooldown(conn, account_id, now)
    if reason is not None:
        result.stopped = reason
        result.skipped = f"stopped ({reason}): a person must clear it"
        return True
    if until is not None:
        result.cooldown_until = until
        result.skipped = f"cooldown until {until.isoformat()}"
    return until is not None


# -- crash reconciliation ---------------------------------------------------------------------
def reconcile(
    postgres,
    gateway: InstagramOpsGateway,
    account_id: str,
    now: datetime,
    kinds: tuple[str, ...] = ("comment_reply", "dm_reply", "post"),
) -> LaneResult:
    """Close actions left in ``sending`` by a crash: done if Instagram has it, planned again if it
    surely does not, else ``unknown`` and a person decides (never a blind resend)."""
    result = LaneResult()
    with postgres.connection() as conn:
        stuck = [
            a for a in store.actions_with_status(conn, account_id, "sending") if a.kind in kinds
        ]
    for action in stuck:
        t = action.target
        try:
            if action.kind == "comment_reply":
                exists = gateway.comment_has_own_reply(t["media_pk"], t["comment_pk"], action.text)
                found = {"verified": "comment"} if exists else None
            elif action.kind == "dm_reply":
                exists = gateway.thread_has_own_text(t["thread_id"], action.text)
                found = {"verified": "dm"} if exists else None
            else:
                pk = gateway.publisher().find_post(action.text)
                found = {"media_pk": pk} if pk else None
        except InstagramCallFailed as exc:
            with postgres.connection() as conn:
                store.set_status(conn, action.id, "unknown", f"reconcile: {exc}")
                store.request_approval(conn, action, "reconcile_unknown")
            result.unknown += 1
            continue
        with postgres.connection() as conn:
            if found:
                store.mark_done(conn, action, now, found, how="reconciled")
                result.reconciled += 1
            else:
                store.set_status(conn, action.id, "planned", "reconcile: not on Instagram")
                record_event(
                    conn,
                    actor="pipeline",
                    kind="ig.action_resend",
                    subject=f"account:{account_id}",
                    data={"key": action.idempotency_key},
                )
                result.resend += 1
    return result


# -- lane A: plan replies ----------------------------------------------------------------------
@dataclass
class ReplyBudget:
    """What one planning run may still do; an item it cannot take waits for the next run."""

    replies: int  # replies planned for sending (the spec's max_replies_per_run)
    drafts: int  # LLM drafts asked for (the spec's llm_max_drafts_per_run)

    @property
    def exhausted(self) -> bool:
        return self.replies <= 0


@dataclass(frozen=True)
class Incoming:
    """A comment or DM that may need a reply; ``key`` is the reply's idempotency key."""

    key: str
    kind: str  # comment_reply | dm_reply
    target: dict
    text: str
    username: str

    @property
    def word(self) -> str:
        """How the spec names the kind (its comment_* and dm_* rules)."""
        return "comment" if self.kind == "comment_reply" else "dm"


def comment_incoming(account_id: str, media_pk: str, c) -> Incoming:
    return Incoming(
        f"comment_reply:{account_id}:{c.pk}",
        "comment_reply",
        {"media_pk": media_pk, "comment_pk": c.pk, "username": c.username,
         "incoming": c.text[:500]},
        c.text,
        c.username,
    )


def dm_incoming(account_id: str, m) -> Incoming:
    return Incoming(
        f"dm_reply:{account_id}:{m.thread_id}:{m.item_id}",
        "dm_reply",
        {"thread_id": m.thread_id, "item_id": m.item_id, "username": m.username,
         "incoming": m.text[:500]},
        m.text,
        m.username,
    )


@dataclass
class Planning:
    """One planning run of one account: its spec, drafter, budget and tally."""

    postgres: object
    gateway: InstagramOpsGateway
    account_id: str
    now: datetime
    version: int | None
    spec: LaneSpec
    drafter: ReplyDrafter | None
    budget: ReplyBudget
    result: LaneResult = field(default_factory=LaneResult)

    def read(self, failed, call, *args, **kwargs):
        """One Instagram read with its outcome recorded (a failure may pause the account);
        ``failed`` is what the caller gets when the read failed."""
        try:
            value = call(*args, **kwargs)
        except InstagramCallFailed as exc:
            _outcome(self.postgres, self.result, self.account_id, self.now, self.spec, error=exc)
            return failed
        _outcome(
            self.postgres, self.result, self.account_id, self.now, self.spec, gateway=self.gateway
        )
        return value


def plan_replies(
    postgres,
    gateway: InstagramOpsGateway,
    account_id: str,
    now: datetime,
    *,
    drafter: ReplyDrafter | None = None,
    comments_on: list[str] | None = None,
    dms: bool = True,
) -> LaneResult:
    """Read new comments and unread DMs, compose replies, record them as planned actions (or
    awaiting approval). Never the account's own comments, never twice (idempotency keys).

    ``comments_on``: None reads the comments of the recent media whose count moved; a list
    (the media the sensor saw notified) reads those media only, skipping the media feed.
    ``dms`` False skips the DM inbox (the sensor's read showed comments, not DMs)."""
    version, spec = current_spec(postgres)
    run = Planning(
        postgres, gateway, account_id, now, version, spec, drafter,
        ReplyBudget(spec.max_replies_per_run, spec.llm_max_drafts_per_run),
    )
    if cooled(postgres, account_id, now, run.result):
        return run.result
    if comments_on is None:
        plan_new_comments(run)
    else:
        plan_notified_comments(run, comments_on)
    if dms and not run.result.paused and not run.budget.exhausted:
        plan_unread_dms(run)
    return run.result


def plan_new_comments(run: Planning) -> None:
    """Each recent media whose comment count moved: its comments past the watermark, planned."""
    media = run.read(None, run.gateway.recent_media, run.spec.recent_media)
    with run.postgres.connection() as conn:
        seen = store.watermarks(conn, run.account_id)
        for pk, (count, newest) in seen.items():
            if media is not None and count < 0 and pk not in {m.pk for m in media}:
                # left for later but no longer among the recent media: out of the lane's
                # window, so no reason for more runs
                store.set_watermark(conn, run.account_id, pk, 0, newest)
    for item in media or []:
        if run.result.paused or run.budget.exhausted:
            break
        count, newest = seen.get(item.pk, (0, None))
        if count == item.comment_count:
            continue  # the count is only a hint: any change (new, deleted, reply) is a look
        looked = plan_comments_past(run, item.pk, newest)
        if looked is not None:
            planned, handled, looked_at_all = looked
            # our replies will raise the count: count them in so they don't look new
            set_comment_watermark(
                run, item.pk, item.comment_count + planned if looked_at_all else -1, handled
            )


def plan_notified_comments(run: Planning, media_pks: list[str]) -> None:
    """The comments past the watermark of the media the activity feed named, without reading
    the media feed. The media's comment count is not read here: the stored one stays, and
    a later full look (``plan_new_comments``) finds it moved and looks once more."""
    with run.postgres.connection() as conn:
        seen = store.watermarks(conn, run.account_id)
    for pk in media_pks:
        if run.result.paused or run.budget.exhausted:
            break
        count, newest = seen.get(pk, (0, None))
        looked = plan_comments_past(run, pk, newest)
        if looked is not None:
            _planned, handled, looked_at_all = looked
            set_comment_watermark(run, pk, max(count, 0) if looked_at_all else -1, handled)


def plan_comments_past(
    run: Planning, media_pk: str, newest: str | None
) -> tuple[int, str | None, bool] | None:
    """Read and plan one media's comments newer than ``newest``: (replies planned, newest
    comment looked at, whether every new comment was looked at), or None when the read failed."""
    comments = run.read(None, run.gateway.comments, media_pk, newer_than=newest)
    if comments is None:
        return None
    planned, handled = plan_comments_of(run, media_pk, comments, newest)
    return planned, handled, not comments or handled == comments[-1].pk


def set_comment_watermark(run: Planning, media_pk: str, count: int, handled: str | None) -> None:
    """A count of -1 (not everything looked at: run budget, LLM draft to retry) makes the
    sensor launch another run."""
    with run.postgres.connection() as conn:
        store.set_watermark(conn, run.account_id, media_pk, count, handled)


def plan_comments_of(
    run: Planning, media_pk: str, comments, newest: str | None
) -> tuple[int, str | None]:
    """Plan replies to one media's new comments (oldest first). Returns the replies planned
    and the newest comment pk up to which every comment was looked at (the new watermark)."""
    planned, handled, held_back = 0, newest, False
    for c in comments:
        if run.budget.exhausted:
            break
        # our own comments and threaded replies are not answered
        if c.user_pk != run.gateway.user_pk and not c.replied_to:
            outcome = plan_one(run, comment_incoming(run.account_id, media_pk, c))
            planned += outcome == "planned"
            held_back = held_back or outcome == "later"
        if not held_back:  # an item left for a later run holds the watermark back
            handled = c.pk
    return planned, handled


def plan_unread_dms(run: Planning) -> None:
    for m in run.read([], run.gateway.unread_messages):
        if run.budget.exhausted:
            break
        plan_one(run, dm_incoming(run.account_id, m))


def plan_one(run: Planning, incoming: Incoming) -> str:
    """Compose and record the reply to one item. Returns what became of it: ``planned`` (to
    send), ``approval`` (waits for a person), ``silent`` (no reply), ``later`` (a later run
    looks again: LLM draft failed or this run's drafts are spent), ``exists`` (seen before)."""
    with run.postgres.connection() as conn:
        if store.action_exists(conn, incoming.key):
            return "exists"
    drafter, tries = None, 0
    if run.drafter is not None and wants_draft(
        run.spec, kind=incoming.word, incoming=incoming.text
    ):
        with run.postgres.connection() as conn:
            tries = store.llm_draft_failures(conn, incoming.key)
        if tries < LLM_DRAFT_TRIES:  # else the LLM gave nothing usable, repeatedly: rules
            if run.budget.drafts <= 0:
                run.result.llm_deferred += 1
                return "later"
            run.budget.drafts -= 1
            drafter = run.drafter
    try:
        composed = compose(
            run.spec, kind=incoming.word, incoming=incoming.text, username=incoming.username,
            drafter=drafter,
        )
    except DraftFailed as exc:
        # no draft means no reply now; never a crash of the lane, never an Instagram failure
        record_draft_failure(run, incoming, exc, tries + 1)
        return "later"
    with run.postgres.connection() as conn:
        if composed is None:
            store.record_no_reply(conn, key=incoming.key, account_id=run.account_id,
                                  kind=incoming.kind, target=incoming.target, now=run.now,
                                  spec_version=run.version)
            return "silent"
        action = store.plan_action(
            conn,
            key=incoming.key,
            account_id=run.account_id,
            kind=incoming.kind,
            target=incoming.target,
            text=composed.text,
            now=run.now,
            source=composed.source,
            spec_version=run.version,
            approval_reason=composed.approval_reason,
        )
    if action is None:
        return "exists"
    if composed.approval_reason:
        run.result.awaiting_approval += 1
        run.result.llm_drafts += composed.source == "llm"
        return "approval"
    run.result.planned += 1
    run.budget.replies -= 1
    return "planned"


def record_draft_failure(run: Planning, incoming: Incoming, exc: DraftFailed, attempt: int):
    record_pipeline_event(
        run.postgres,
        kind="ig.llm_draft_failed",
        subject=f"account:{run.account_id}",
        data={
            "key": incoming.key,
            "kind": incoming.kind,
            "outcome": exc.outcome,
            "error": exc.detail[:300],
            "try": attempt,
            "attempts": exc.attempts,
        },
    )
    run.result.llm_failures += 1


# -- lane A: send ----------------------------------------------------------------------------
def send_planned(
    postgres,
    gateway: InstagramOpsGateway,
    account_id: str,
    now: datetime,
    object_store=None,
    *,
    kinds: tuple[str, ...] = ("comment_reply", "dm_reply", "post"),
    limit: int | None = None,
    sleep=time.sleep,
) -> LaneResult:
    """Send planned actions (new ones and approved ones): sending → call → done/planned/failed.

    Replies and DMs keep to the spec's budget; what exceeds it stays planned for a later window.
    """
    result = LaneResult()
    _version, spec = current_spec(postgres)
    if cooled(postgres, account_id, now, result):
        return result
    with postgres.connection() as conn:
        todo = [
            a for a in store.actions_with_status(conn, account_id, "planned") if a.kind in kinds
        ]
        allowance = budget_left(conn, account_id, now, spec)
    first = True
    for action in todo[: limit or spec.max_replies_per_run]:
        if result.paused:
            break
        if action.kind in allowance:
            if allowance[action.kind] <= 0 or allowance["day"] <= 0:
                result.deferred += 1
                continue
            allowance[action.kind] -= 1
            allowance["day"] -= 1
            if not first and spec.budget.min_seconds_between_actions:
                sleep(spec.budget.min_seconds_between_actions)
            first = False
        with postgres.connection() as conn:  # committed before Instagram is called
            if not store.mark_sending(conn, action.id, now):
                continue
        try:
            outcome = _send(gateway, action, object_store)
        except InstagramCallFailed as exc:
            with postgres.connection() as conn:
                store.mark_not_sent(conn, action, str(exc), max_attempts=MAX_ATTEMPTS_PER_ACTION)
            _outcome(postgres, result, account_id, now, spec, error=exc, action_id=action.id)
            continue
        with postgres.connection() as conn:
            store.mark_done(conn, action, now, outcome)
        _outcome(postgres, result, account_id, now, spec, action_id=action.id, gateway=gateway)
        result.sent += 1
    return result


def budget_left(conn, account_id: str, now: datetime, spec: LaneSpec) -> dict[str, int]:
    """How many comment replies / DMs may still go out now (rolling hour, rolling day)."""
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    replies = ("comment_reply", "dm_reply")
    return {
        "comment_reply": spec.budget.replies_per_hour
        - store.sent_since(conn, account_id, hour, ("comment_reply",)),
        "dm_reply": spec.budget.dms_per_hour
        - store.sent_since(conn, account_id, hour, ("dm_reply",)),
        "day": spec.budget.actions_per_day - store.sent_since(conn, account_id, day, replies),
    }


def _send(gateway: InstagramOpsGateway, action, object_store) -> dict:
    t = action.target
    if action.kind == "comment_reply":
        return {"reply_pk": gateway.reply_to_comment(t["media_pk"], t["comment_pk"], action.text)}
    if action.kind == "dm_reply":
        return {"item_id": gateway.send_dm(t["thread_id"], action.text)}
    image = object_store.get(t["object_key"])
    post = gateway.publisher().publish(image, t["public_url"], action.text)
    return {"media_pk": post.media_pk, "via": post.via}


# -- lane B -----------------------------------------------------------------------------------
def prepare_post(
    postgres, account_id: str, day: date, now: datetime, object_store, *, variant_options=None
) -> tuple[store.Action | None, list[str]]:
    """The post action of ``account_id`` for ``day``: existing, or planned from the next content
    file (poster variant uploaded for a public URL). One per account per day."""
    key = f"post:{account_id}:{day.isoformat()}"
    with postgres.connection() as conn:
        existing = store.get_action(conn, key)
        if existing is not None:
            return existing, []
        account = get_account(conn, account_id)
        item, refused = next_stored_item(conn, object_store, account_id)
        for reason in refused:
            record_event(
                conn,
                actor="pipeline",
                kind="ig.content_refused",
                subject=f"account:{account_id}",
                data={"reason": reason},
            )
        if item is None:
            record_event(
                conn,
                actor="pipeline",
                kind="ig.content_exhausted",
                subject=f"account:{account_id}",
                data={"day": day},
            )
            return None, refused
        with conn.cursor() as cur:
            cur.execute(
                "SELECT 1 FROM ig_actions WHERE account_id = %s AND kind = 'post' AND status = 'done'"
                " LIMIT 1",
                (account_id,),
            )
            posted_before = cur.fetchone() is not None
    variant = make_variant(item.image, variant_options)
    stored = object_store.put(variant, "image/jpeg", prefix=f"ig-posts/{account_id}")
    reason = None
    if account.is_new and not posted_before:
        reason = "first_post"
    elif item.needs_approval or account.approve_all_posts:
        reason = "post_marked"
    version, _spec = current_spec(postgres)
    with postgres.connection() as conn:
        action = store.plan_action(
            conn,
            key=key,
            account_id=account_id,
            kind="post",
            target={
                "file_name": item.file_name,
                "object_key": stored.key,
                "public_url": stored.public_url,
                "day": day.isoformat(),
            },
            text=item.caption,
            now=now,
            source="schedule",
            spec_version=version,
            approval_reason=reason,
        )
        if action is None:  # a concurrent run planned it first
            return store.get_action(conn, key), refused
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO ig_content_ledger (account_id, file_name, sha256, action_id, taken_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                (account_id, item.file_name, item.sha256, action.id, now),
            )
    return action, refused
