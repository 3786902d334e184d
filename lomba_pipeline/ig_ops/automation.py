"""Sensor (lane A), schedules (lanes B and C)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from lomba_pipeline.ig_ops import lanes, store, watch
from lomba_pipeline.ig_ops.accounts import list_accounts
from lomba_pipeline.ig_ops.clock import IgClock
from lomba_pipeline.ig_ops.jobs import ACCOUNT_TAG, POST_DATE_TAG, ig_post_job, ig_reply_job
from lomba_pipeline.ig_ops.post_times import (
    is_post_time,
    post_cron,
    post_minute_of_day,
    post_time_text,
)
from lomba_pipeline.ig_ops.spec import LaneSpec, active_spec
from lomba_pipeline.partitions import OPERATED_ACCOUNTS, TIMEZONE
from lomba_pipeline.resources.instagram_ops import InstagramOpsResource
from lomba_pipeline.resources.postgres import PostgresResource

# the reads of one tick in parallel, one thread per account: a read holds no database
# connection while it waits for Instagram (the pool waits for a free one anyway)
SENSOR_THREADS = 10
# a run in one of these states already serves the account: no second one is requested
BUSY = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def busy_accounts(instance, accounts) -> set[str]:
    """Accounts with a reply run queued or running (the instance's runs, by tag): one query
    for all accounts, every tick."""
    records = instance.get_run_records(
        dg.RunsFilter(job_name=ig_reply_job.name, statuses=BUSY)
    )
    running = {r.dagster_run.tags.get(ACCOUNT_TAG) for r in records}
    return {a.account_id for a in accounts if a.account_id in running}


def missed_posts(postgres, accounts, now: datetime) -> list[dg.RunRequest]:
    """Posts skipped earlier today during a cooldown that has ended: made up now, once (the
    action key post:<account>:<day> still allows one post per account per day). One query
    finds the skipped posts not made up yet; only those accounts are checked for a pause."""
    day = now.astimezone(ZoneInfo(TIMEZONE)).date().isoformat()
    enabled = {a.account_id for a in accounts}
    with postgres.connection() as conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT substr(e.subject, length('account:') + 1) FROM events e"
                " WHERE e.kind = 'ig.post_skipped' AND e.data->>'day' = %s AND NOT EXISTS"
                " (SELECT 1 FROM ig_actions a WHERE a.idempotency_key ="
                " 'post:' || substr(e.subject, length('account:') + 1) || ':' || %s)",
                (day, day),
            )
            skipped = sorted(account for (account,) in cur.fetchall() if account in enabled)
        due = [
            account
            for account in skipped
            if not (store.stopped(conn, account) or store.in_cooldown(conn, account, now))
        ]
    return [
        dg.RunRequest(
            job_name=ig_post_job.name,
            partition_key=account,
            run_key=f"post-makeup:{account}:{day}",
            tags={ACCOUNT_TAG: account, POST_DATE_TAG: day},
        )
        for account in due
    ]


# the sensor may tick this often (the daemon's sensor loop runs every 5 s at best): the spec's
# call budget, not the tick, bounds Instagram reads; a short tick keeps reads on their timetable
SENSOR_TICK_SECONDS = 5


def build_reply_sensor(reply_job: dg.JobDefinition, post_job: dg.JobDefinition):
    """``ig_reply_sensor`` launching ``reply_job`` / ``post_job`` runs (see ``reply_tick``)."""

    @dg.sensor(
        name="ig_reply_sensor",
        jobs=[reply_job, post_job],
        minimum_interval_seconds=SENSOR_TICK_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(
        context, postgres: PostgresResource, ig_ops: InstagramOpsResource, ig_clock: IgClock
    ):
        return reply_tick(context, postgres, ig_ops, ig_clock)

    return _sensor


def reply_tick(context, postgres, ig_ops, ig_clock):
    """Notices work for the reply lane and launches one run per account that has some.

    Per account and tick: nothing while a reply run is queued or running for it; else Postgres
    (actions to send, comments left for later, the end of a pause); else at most one cheap
    Instagram read, within the spec's checks per hour (see ``watch.py``). The run does the
    fetching and replying. Also makes up a morning post missed during a cooldown that has ended.
    """
    now = ig_clock.now()
    with postgres.connection() as conn:
        accounts = list_accounts(conn, enabled_only=True)
    if not accounts:
        return dg.SkipReason("no operated accounts imported (lomba accounts import)")
    _version, spec = lanes.current_spec(postgres)
    states = watch.load_states(context.cursor)
    makeups = list(
        {  # one post request per account (the action key allows one post a day anyway)
            r.partition_key: r
            for r in posts_no_schedule_will_launch(
                context.repository_def, postgres, accounts, now, spec
            )
            + missed_posts(postgres, accounts, now)
        }.values()
    )
    busy = busy_accounts(context.instance, accounts)
    for account_id in sorted(busy):
        context.log.info(f"{account_id}: a reply run is already queued or running")
    accounts = [a for a in accounts if a.account_id not in busy]

    def check(account):
        state = states.setdefault(account.account_id, watch.WatchState())
        work = watch.check_account(
            postgres,
            lambda a: lanes.open_gateway(postgres, ig_ops, a, now),
            account.account_id,
            now,
            spec,
            state,
        )
        return account, work

    found = []
    if accounts:
        with ThreadPoolExecutor(max_workers=min(SENSOR_THREADS, len(accounts))) as pool:
            found = list(pool.map(check, accounts))
    context.update_cursor(watch.dump_states(states))
    stamp = now.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y%m%dT%H%M%S")
    requests = makeups + [
        dg.RunRequest(
            job_name=ig_reply_job.name,
            run_key=f"reply:{a.account_id}:{stamp}",
            run_config=work.run_config(),
            tags={ACCOUNT_TAG: a.account_id},
        )
        for a, work in found
        if work
    ]
    for a, work in found:
        if work:
            context.log.info(f"{a.account_id}: {work.why}")
    return requests or dg.SkipReason("no new comments, DMs or approved actions")


ig_reply_sensor = build_reply_sensor(ig_reply_job, ig_post_job)


def build_post_schedule(
    account: str, spec: LaneSpec, source: str, job: dg.JobDefinition = ig_post_job
) -> dg.ScheduleDefinition:
    """The morning post of one account: its own schedule (own on/off switch, own history).

    The cron is the post time under ``spec`` (the one in force when the code location loaded);
    each tick checks the active spec again and skips when the time moved since, so a spec
    change never posts at the old time (the sensor launches posts no schedule will).
    """

    @dg.schedule(
        name=f"ig_morning_post_{account}_schedule",
        cron_schedule=post_cron(account, spec),
        job=job,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Morning post of {account} at {post_time_text(account, spec)} WIB"
        f" ({source}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext, postgres: PostgresResource):
        when: datetime = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE))
        day = when.strftime("%Y-%m-%d")
        with postgres.connection() as conn:
            enabled = {a.account_id for a in list_accounts(conn, enabled_only=True)}
            version, active = active_spec(conn)
        if account not in enabled:
            return dg.SkipReason(
                f"{account} is not imported or not enabled (lomba accounts import)"
            )
        in_force = active if version is not None else spec
        if not is_post_time(account, in_force, when):
            return dg.SkipReason(
                f"spec v{version} moved the post of {account} to"
                f" {post_time_text(account, in_force)} WIB; this schedule follows once the"
                " code location reloads"
            )
        return dg.RunRequest(
            partition_key=account,
            run_key=f"post:{account}:{day}",
            tags={ACCOUNT_TAG: account, POST_DATE_TAG: day},
        )

    return _schedule


def post_schedules(
    spec: LaneSpec | None = None, source: str = "built-in defaults", job=ig_post_job
) -> list[dg.ScheduleDefinition]:
    spec = spec or LaneSpec()
    return [build_post_schedule(a, spec, source, job) for a in OPERATED_ACCOUNTS]


def posts_no_schedule_will_launch(
    repository_def, postgres, accounts, now: datetime, spec: LaneSpec
) -> list[dg.RunRequest]:
    """Today's posts due under the active spec whose schedule still carries an older cron (the
    spec changed and the code location has not reloaded): the sensor launches them, once."""
    if repository_def is None:
        return []
    local = now.astimezone(ZoneInfo(TIMEZONE))
    day = local.date().isoformat()
    requests = []
    for account in accounts:
        name = f"ig_morning_post_{account.account_id}_schedule"
        if account.account_id not in OPERATED_ACCOUNTS or not repository_def.has_schedule_def(
            name
        ):
            continue
        if repository_def.get_schedule_def(name).cron_schedule == post_cron(
            account.account_id, spec
        ):
            continue  # the schedule launches it at the right time
        if local.hour * 60 + local.minute < post_minute_of_day(account.account_id, spec):
            continue
        with postgres.connection() as conn:
            if store.action_exists(conn, f"post:{account.account_id}:{day}"):
                continue
        requests.append(
            dg.RunRequest(
                job_name=ig_post_job.name,
                partition_key=account.account_id,
                run_key=f"post-due:{account.account_id}:{day}",
                tags={ACCOUNT_TAG: account.account_id, POST_DATE_TAG: day},
            )
        )
    return requests
