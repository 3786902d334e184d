"""Dagster ops and jobs of lane A (reply/DM) and lane B (morning post).

Every op that calls Instagram has a RetryPolicy (exponential backoff + jitter) and runs in the
``instagram_api`` pool; runs carry the ``ig/account`` tag, which the run queue limits to one run
per account at a time.
"""

from datetime import date

import dagster as dg
from pydantic import Field

from lomba_pipeline.db.events import record_pipeline_event
from lomba_pipeline.distributed.processes import INSTAGRAM_QUEUE
from lomba_pipeline.ig_ops import lanes
from lomba_pipeline.ig_ops.clock import IgClock
from lomba_pipeline.ig_ops.llm_drafter import llm_drafter
from lomba_pipeline.partitions import operated_accounts
from lomba_pipeline.resources.ai import AiResource
from lomba_pipeline.resources.instagram_ops import InstagramOpsResource
from lomba_pipeline.resources.object_store import ObjectStore
from lomba_pipeline.resources.postgres import PostgresResource

ACCOUNT_TAG = "ig/account"
POST_DATE_TAG = "ig/post_date"
POOL = "instagram_api"
# the ops retry themselves (IG_RETRY): a run-level retry on top would multiply the attempts
NO_RUN_RETRY = {"dagster/retry_on_asset_or_op_failure": "false"}
# on one machine a reply or post run is a few short steps: run them in the run's own process (a
# process per step costs seconds each); pools and op retries still apply
LIGHT_JOB_EXECUTOR = dg.in_process_executor
# under the Celery executor only workers started with `-q instagram` (the machines whose IP the
# accounts know) take these steps; the key is dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG, spelled
# out so loading the code location does not import Celery; harmless under other executors
IG_QUEUE = {"dagster-celery/queue": INSTAGRAM_QUEUE}
IG_RETRY = dg.RetryPolicy(
    max_retries=3, delay=2.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _lane_gateway(context, postgres, ig_ops, ig_clock) -> tuple[str, object | None]:
    """The run's account and its Instagram gateway; ``None`` (logged) while it cools down."""
    account = _account(context)
    gateway = lanes.gateway_or_cooldown(postgres, ig_ops, account, ig_clock.now())
    if gateway is None:
        context.log.warning(f"{account}: in cooldown; lane paused")
    return account, gateway


def _account(context) -> str:
    account = context.run.tags.get(ACCOUNT_TAG) or (
        context.partition_key if context.has_partition_key else None
    )
    if not account:
        raise dg.Failure(f"run has no {ACCOUNT_TAG} tag: which account?")
    return account


@dg.op(retry_policy=IG_RETRY, pool=POOL, tags=IG_QUEUE, out=dg.Out(dg.Nothing))
def reconcile_sending(
    context, postgres: PostgresResource, ig_ops: InstagramOpsResource, ig_clock: IgClock
) -> None:
    """Close replies/DMs left in ``sending`` by a crash (see lanes.reconcile)."""
    account, gateway = _lane_gateway(context, postgres, ig_ops, ig_clock)
    if gateway is None:
        return
    result = lanes.reconcile(postgres, gateway, account, ig_clock.now())
    context.add_output_metadata(result.as_metadata())


class LookAt(dg.Config):
    """What ``plan_replies`` reads. The defaults (a run launched by hand): the comments of the
    recent media and the DM inbox. The reply sensor narrows it to what its own read saw."""

    comments_on: list[str] | None = Field(
        default=None, description="only these media's comments (None: every recent media)"
    )
    dms: bool = Field(default=True, description="read the unread DMs")


@dg.op(retry_policy=IG_RETRY, pool=POOL, tags=IG_QUEUE, ins={"after": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing))
def plan_replies(
    context,
    config: LookAt,
    postgres: PostgresResource,
    ig_ops: InstagramOpsResource,
    ig_clock: IgClock,
    ai: AiResource,
) -> None:
    """Fetch new comments and unread DMs; record the replies to send (or to approve).

    Replies come from the active spec's keyword rules; when the spec turns ``llm_drafts`` on and
    a Zhipu key is configured, items no rule matches get an LLM draft that waits for approval.
    """
    account, gateway = _lane_gateway(context, postgres, ig_ops, ig_clock)
    if gateway is None:
        return
    version, spec = lanes.current_spec(postgres)
    drafter, composer = llm_drafter(ai, spec)
    (context.log.warning if spec.llm_drafts and drafter is None else context.log.info)(
        f"plan {account} (spec v{version}): {composer}"
    )
    result = lanes.plan_replies(
        postgres, gateway, account, ig_clock.now(), drafter=drafter,
        comments_on=config.comments_on, dms=config.dms,
    )
    context.log.info(f"plan {account}: {result.as_metadata()}")
    result.raise_if_retry_needed()
    context.add_output_metadata({"composer": composer, **result.as_metadata()})


@dg.op(retry_policy=IG_RETRY, pool=POOL, tags=IG_QUEUE, ins={"after": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing))
def send_replies(
    context,
    postgres: PostgresResource,
    ig_ops: InstagramOpsResource,
    ig_clock: IgClock,
    object_store: ObjectStore,
) -> None:
    """Send planned and approved actions (approved posts included) and record the outcome."""
    account, gateway = _lane_gateway(context, postgres, ig_ops, ig_clock)
    if gateway is None:
        return
    result = lanes.send_planned(postgres, gateway, account, ig_clock.now(), object_store)
    context.log.info(f"send {account}: {result.as_metadata()}")
    result.raise_if_retry_needed()
    context.add_output_metadata(result.as_metadata())


def build_reply_job(executor_def: dg.ExecutorDefinition | None = None) -> dg.JobDefinition:
    """Lane A's job; ``executor_def`` None: the code location's executor (Celery in the
    multi-machine topology, where the steps must reach the instagram queue)."""

    @dg.job(
        name="ig_reply_job",
        tags={"lane": "reply", **NO_RUN_RETRY},
        executor_def=executor_def,
        description="Lane A: answer new comments and DMs of one account.",
    )
    def _job():
        send_replies(after=plan_replies(after=reconcile_sending()))

    return _job


@dg.op(retry_policy=IG_RETRY, pool=POOL, tags=IG_QUEUE, out=dg.Out(dg.Nothing))
def publish_morning_post(
    context,
    postgres: PostgresResource,
    ig_ops: InstagramOpsResource,
    ig_clock: IgClock,
    object_store: ObjectStore,
) -> None:
    """Take the next content file, make the poster variant, store it for a public URL, publish.

    The action key ``post:<account>:<date>`` makes this one post per account per day, however
    often the run or the step is retried.
    """
    account = context.partition_key
    now = ig_clock.now()
    tag = context.run.tags.get(POST_DATE_TAG)
    day = date.fromisoformat(tag) if tag else ig_clock.today()
    paused = lanes.LaneResult()
    if lanes.cooled(postgres, account, now, paused):
        # the lane is paused: take no content file, the report shows the missed post
        return _post_skipped(context, postgres, account, day, paused.skipped)
    gateway = lanes.gateway_or_cooldown(postgres, ig_ops, account, now)
    if gateway is None:  # the login failed and paused the account: made up after the pause
        return _post_skipped(context, postgres, account, day, "login failed: account paused")
    fixed = lanes.reconcile(postgres, gateway, account, now, kinds=("post",))
    action, refused = lanes.prepare_post(postgres, account, day, now, object_store)
    for reason in refused:
        context.log.warning(f"content refused: {reason}")
    if action is None:
        context.log.warning(f"{account}: no usable content file left; nothing posted")
        context.add_output_metadata({"status": "no_content", "refused": len(refused)})
        return
    result = lanes.LaneResult()
    if action.status == "planned":
        result = lanes.send_planned(
            postgres, gateway, account, now, object_store, kinds=("post",), limit=1
        )
        result.raise_if_retry_needed()
    with postgres.connection() as conn:
        from lomba_pipeline.ig_ops.store import get_action

        final = get_action(conn, action.idempotency_key)
    context.log.info(f"post {account} {day}: {final.status} (reconciled {fixed.reconciled})")
    context.add_output_metadata(
        {
            "status": final.status,
            "file": final.target.get("file_name"),
            "day": day.isoformat(),
            "refused": len(refused),
        }
    )


def _post_skipped(context, postgres, account: str, day: date, why: str) -> None:
    """The account is paused: no post today unless made up after the pause (``ig.post_skipped``
    is what the make-up looks for)."""
    record_pipeline_event(
        postgres, kind="ig.post_skipped", subject=f"account:{account}", data={"day": day, "why": why}
    )
    context.log.warning(f"{account}: {why}; no post today")
    context.add_output_metadata({"status": "cooldown", "day": day.isoformat()})


def build_post_job(executor_def: dg.ExecutorDefinition | None = None) -> dg.JobDefinition:
    """Lane B's job (see ``build_reply_job`` for ``executor_def``)."""

    @dg.job(
        name="ig_post_job",
        partitions_def=operated_accounts,
        tags={"lane": "posting", **NO_RUN_RETRY},
        executor_def=executor_def,
        description="Lane B: the morning post of one account (partition = account).",
    )
    def _job():
        publish_morning_post()

    return _job


# the single-machine code location's jobs (and the tests'): steps in the run's own process
ig_reply_job = build_reply_job(LIGHT_JOB_EXECUTOR)
ig_post_job = build_post_job(LIGHT_JOB_EXECUTOR)
