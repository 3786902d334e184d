"""What the lanes do, as plain functions over Postgres and an ``InstagramOpsGateway``.

Dagster ops (``jobs.py``), the sensor and the benchmark call these; each step is its own short
transaction so that an action is committed as ``sending`` before Instagram is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from lomba_pipeline.db.events import record_event
from lomba_pipeline.ig_ops import store
from lomba_pipeline.ig_ops.accounts import Account, account_credentials, get_account
from lomba_pipeline.ig_ops.compose import DraftFailed, ReplyDrafter, compose, wants_draft
from lomba_pipeline.ig_ops.content import next_item
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
            "skipped": self.skipped or "",
            "llm_drafts": self.llm_drafts,
            "llm_draft_failures": self.llm_failures,
            "llm_deferred": self.llm_deferred,
        }

    def raise_if_retry_needed(self) -> None:
        if self.failures and self.cooldown_until is None:
            raise LaneFailed("; ".join(self.failures[:5]))


def current_spec(postgres) -> tuple[int | None, LaneSpec]:
    with postgres.connection() as conn:
        return active_spec(conn)


def open_gateway(postgres, ig_ops, account_id: str) -> InstagramOpsGateway:
    from lomba_pipeline.secrets_box import secret_box_from_settings
    from lomba_pipeline.settings import get_settings

    with postgres.connection() as conn:
        account = get_account(conn, account_id)
        creds = account_credentials(conn, secret_box_from_settings(get_settings()), account_id)
    return ig_ops.gateway(postgres, account_id, account.username, creds)


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
        return open_gateway(postgres, ig_ops, account_id)
    except InstagramCallFailed as exc:
        _version, spec = current_spec(postgres)
        _outcome(postgres, result, account_id, now, spec, error=str(exc))
        if result.cooldown_until:
            return None
        raise


def _outcome(
    postgres,
    result: LaneResult,
    account_id: str,
    now: datetime,
    spec: LaneSpec,
    *,
    error: str | None = None,
    action_id: int | None = None,
) -> None:
    with postgres.connection() as conn:
        started = store.record_attempt(
            conn,
            account_id,
            now,
            ok=error is None,
            error=error,
            action_id=action_id,
            failure_threshold=spec.failure_threshold,
            cooldown_minutes=spec.cooldown_minutes,
        )
        if started:
            result.cooldown_until = store.in_cooldown(conn, account_id, now)
    if error:
        result.failures.append(error)


def cooled(postgres, account_id: str, now: datetime, result: LaneResult) -> bool:
    with postgres.connection() as conn:
        until = store.in_cooldown(conn, account_id, now)
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


# -- lane A -----------------------------------------------------------------------------------
def plan_replies(
    postgres,
    gateway: InstagramOpsGateway,
    account_id: str,
    now: datetime,
    *,
    drafter: ReplyDrafter | None = None,
) -> LaneResult:
    """Fetch new comments and unread DMs, compose replies, record them as planned actions (or
    awaiting approval). Never the account's own comments, never twice (idempotency keys)."""
    result = LaneResult()
    version, spec = current_spec(postgres)
    if cooled(postgres, account_id, now, result):
        return result
    budget = spec.max_replies_per_run
    drafts_left = spec.llm_max_drafts_per_run
    revisit = False  # an item was left for a later tick (LLM draft failed or over its budget)

    def plan(key, kind, target, incoming, username, kind_word):
        nonlocal drafts_left, revisit
        use = drafter
        tries = 0
        if drafter is not None and wants_draft(spec, kind=kind_word, incoming=incoming):
            with postgres.connection() as conn:
                tries = store.llm_draft_failures(conn, key)
            if tries >= LLM_DRAFT_TRIES:
                use = None  # the LLM gave nothing usable, repeatedly: the rules decide
            elif drafts_left <= 0:
                result.llm_deferred += 1
                revisit = True
                return 0
            else:
                drafts_left -= 1
        try:
            composed = compose(
                spec, kind=kind_word, incoming=incoming, username=username, drafter=use
            )
        except DraftFailed as exc:
            # no draft means no reply now; never a crash of the lane, never an Instagram failure
            with postgres.connection() as conn:
                record_event(
                    conn,
                    actor="pipeline",
                    kind="ig.llm_draft_failed",
                    subject=f"account:{account_id}",
                    data={
                        "key": key,
                        "kind": kind,
                        "outcome": exc.outcome,
                        "error": exc.detail[:300],
                        "try": tries + 1,
                        "attempts": exc.attempts,
                    },
                )
            result.llm_failures += 1
            revisit = True
            return 0
        if composed is None:
            with postgres.connection() as conn:
                store.record_no_reply(conn, key=key, account_id=account_id, kind=kind,
                                      target=target, now=now, spec_version=version)
            return 0
        with postgres.connection() as conn:
            action = store.plan_action(
                conn,
                key=key,
                account_id=account_id,
                kind=kind,
                target=target,
                text=composed.text,
                now=now,
                source=composed.source,
                spec_version=version,
                approval_reason=composed.approval_reason,
            )
        if action is None:
            return 0
        if composed.approval_reason:
            result.awaiting_approval += 1
            result.llm_drafts += composed.source == "llm"
            return 0
        result.planned += 1
        return 1

    try:
        media = gateway.recent_media(spec.recent_media)
        _outcome(postgres, result, account_id, now, spec)
    except InstagramCallFailed as exc:
        _outcome(postgres, result, account_id, now, spec, error=str(exc))
        media = []
    with postgres.connection() as conn:
        seen = store.watermarks(conn, account_id)
    for item in media:
        if result.cooldown_until or budget <= 0:
            break
        if item.comment_count <= seen.get(item.pk, 0):
            continue
        try:
            comments = gateway.comments(item.pk)
            _outcome(postgres, result, account_id, now, spec)
        except InstagramCallFailed as exc:
            _outcome(postgres, result, account_id, now, spec, error=str(exc))
            continue
        mine = 0
        revisit = False
        for c in comments:
            if c.user_pk == gateway.user_pk or c.replied_to:
                continue  # our own comments and threaded replies are not answered
            if budget <= 0:
                break
            with postgres.connection() as conn:
                if store.action_exists(conn, f"comment_reply:{account_id}:{c.pk}"):
                    continue
            n = plan(
                f"comment_reply:{account_id}:{c.pk}",
                "comment_reply",
                {
                    "media_pk": item.pk,
                    "comment_pk": c.pk,
                    "username": c.username,
                    "incoming": c.text[:500],
                },
                c.text,
                c.username,
                "comment",
            )
            budget -= n
            mine += n
        if budget > 0 and not revisit:  # everything on this media was looked at
            with postgres.connection() as conn:
                # our replies will raise the count: count them in so they don't look new
                store.set_watermark(conn, account_id, item.pk, item.comment_count + mine)
    if not result.cooldown_until and budget > 0:
        try:
            messages = gateway.unread_messages()
            _outcome(postgres, result, account_id, now, spec)
        except InstagramCallFailed as exc:
            _outcome(postgres, result, account_id, now, spec, error=str(exc))
            messages = []
        for m in messages:
            if budget <= 0:
                break
            key = f"dm_reply:{account_id}:{m.thread_id}:{m.item_id}"
            with postgres.connection() as conn:
                if store.action_exists(conn, key):
                    continue
            budget -= plan(
                key,
                "dm_reply",
                {
                    "thread_id": m.thread_id,
                    "item_id": m.item_id,
                    "username": m.username,
                    "incoming": m.text[:500],
                },
                m.text,
                m.username,
                "dm",
            )
    return result


def send_planned(
    postgres,
    gateway: InstagramOpsGateway,
    account_id: str,
    now: datetime,
    object_store=None,
    *,
    kinds: tuple[str, ...] = ("comment_reply", "dm_reply", "post"),
    limit: int | None = None,
) -> LaneResult:
    """Send planned actions (new ones and approved ones): sending → call → done/planned/failed."""
    result = LaneResult()
    _version, spec = current_spec(postgres)
    if cooled(postgres, account_id, now, result):
        return result
    with postgres.connection() as conn:
        todo = [
            a for a in store.actions_with_status(conn, account_id, "planned") if a.kind in kinds
        ]
    for action in todo[: limit or spec.max_replies_per_run]:
        if result.cooldown_until:
            break
        with postgres.connection() as conn:  # committed before Instagram is called
            if not store.mark_sending(conn, action.id, now):
                continue
        try:
            outcome = _send(gateway, action, object_store)
        except InstagramCallFailed as exc:
            with postgres.connection() as conn:
                store.mark_not_sent(conn, action, str(exc), max_attempts=MAX_ATTEMPTS_PER_ACTION)
            _outcome(postgres, result, account_id, now, spec, error=str(exc), action_id=action.id)
            continue
        with postgres.connection() as conn:
            store.mark_done(conn, action, now, outcome)
        _outcome(postgres, result, account_id, now, spec, action_id=action.id)
        result.sent += 1
    return result


def _send(gateway: InstagramOpsGateway, action, object_store) -> dict:
    t = action.target
    if action.kind == "comment_reply":
        return {"reply_pk": gateway.reply_to_comment(t["media_pk"], t["comment_pk"], action.text)}
    if action.kind == "dm_reply":
        return {"item_id": gateway.send_dm(t["thread_id"], action.text)}
    image = object_store.get(t["object_key"])
    post = gateway.publisher().publish(image, t["public_url"], action.text)
    return {"media_pk": post.media_pk, "via": post.via}


def has_work(postgres, gateway_factory, account: Account, now: datetime) -> str | None:
    """The sensor's cheap check: a reason to launch a run for this account, or None."""
    with postgres.connection() as conn:
        if store.in_cooldown(conn, account.account_id, now):
            return None
        for status in ("planned", "sending"):
            if store.actions_with_status(conn, account.account_id, status, limit=1):
                return f"{status} actions"
        seen = store.watermarks(conn, account.account_id)
    _version, spec = current_spec(postgres)
    try:
        gateway = gateway_factory(account.account_id)
        if any(
            m.comment_count > seen.get(m.pk, 0) for m in gateway.recent_media(spec.recent_media)
        ):
            return "new comments"
        unread = gateway.unread_messages()
        if unread:
            # a DM already answered, rejected or waiting for approval stays "unread": skip it
            with postgres.connection() as conn:
                for m in unread:
                    key = f"dm_reply:{account.account_id}:{m.thread_id}:{m.item_id}"
                    if not store.action_exists(conn, key):
                        return "unread DMs"
    except InstagramCallFailed as exc:
        return f"check failed ({exc.operation}): the run records it"
    return None


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
        item, refused = next_item(conn, account_id, account.content_dir)
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
