"""The steps behind ``extracted_fields``: plan → shards (dynamic outputs) → collect.

Each shard is its own step, so with Dagster's Celery executor each runs on whichever worker
machine takes it; shards share the queue through claims (``claims.py``), never through memory,
and hand nothing to each other (Nothing-typed outputs: no IO manager, no shared disk). In a run
on one machine the plan makes one shard, which drains the queue exactly as before.

The providers' limits (requests per minute, calls in flight) belong to the API key, not to a
machine: each of N shards gets 1/N of them, so the shards together stay within the configured
limits wherever they run.
"""


import dataclasses
import datetime as dt
import math

import dagster as dg
from pydantic import Field

from lomba_pipeline.catalog.extraction.claims import (
    DEFAULT_LEASE_SECONDS,
    Heartbeat,
    count_ready,
    new_claimer,
)
from lomba_pipeline.catalog.extraction.runner import (
    ExtractionSummary,
    build_extractor,
    drain_shard,
    resolve_mode,
)
from lomba_pipeline.catalog.extraction.shard_reports import (
    PLAN_PART,
    forget_old_reports,
    plan_of,
    run_reports,
    save_report,
    this_worker,
)
from lomba_pipeline.resources.ai import AiConfig, AiResource
from lomba_pipeline.resources.object_store import ObjectStore
from lomba_pipeline.resources.postgres import PostgresResource

# shards of a run whose steps go to Celery workers; at least this many ready items per shard
DISTRIBUTED_SHARDS = 4
ITEMS_PER_SHARD = 20


class ExtractionPlan(dg.Config):
    shards: int = Field(
        default=0,
        description="Shards to fan out into; 0: one when the run's steps execute on this "
        "machine, up to 4 (at least 20 items each) when they go to Celery workers.",
    )


class ExtractionShard(dg.Config):
    lease_seconds: float = Field(
        default=DEFAULT_LEASE_SECONDS,
        description="A claim not renewed for this long belongs to a lost worker and is taken "
        "again (the heartbeat renews it every quarter of this).",
    )


def shard_count(requested: int, ready: int, distributed: bool) -> int:
    if requested > 0:
        return requested
    if not distributed:
        return 1
    return max(1, min(DISTRIBUTED_SHARDS, math.ceil(ready / ITEMS_PER_SHARD)))


def shard_limits(config: AiConfig, shards: int) -> AiConfig:
    """This shard's share of the per-key limits."""
    if shards <= 1:
        return config
    per_minute = config.requests_per_minute
    return dataclasses.replace(
        config,
        requests_per_minute=max(1, per_minute // shards) if per_minute > 0 else 0,
        concurrency=max(1, math.ceil(config.concurrency / shards)),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dg.op(ins={"posters": dg.In(dg.Nothing)}, out=dg.DynamicOut(dg.Nothing),
       description="Count the ready items and fan out into shards.")
def plan_extraction(context: dg.OpExecutionContext, config: ExtractionPlan,
                    postgres: PostgresResource, ai: AiResource):
    policy = ai.retry_policy()
    as_of = _now()  # every shard judges readiness as of the run's start
    with postgres.connection() as conn:
        ready, claimed_elsewhere = count_ready(conn, policy, as_of)
        distributed = context.job_def.executor_def.name == "celery"
        shards = shard_count(config.shards, ready, distributed)
        plan = ExtractionSummary(mode=resolve_mode(ai.extraction_provider, ai.config()),
                                 pending=ready,
                                 busy=ready > 0 and claimed_elsewhere == ready)
        save_report(conn, context.run_id, PLAN_PART, plan, seq=0,
                    extra={"as_of": as_of.isoformat()})
    context.log.info(f"extract: {ready} items ready ({claimed_elsewhere} claimed by another run);"
                     f" {shards} shard(s)")
    for index in range(1, shards + 1):
        yield dg.DynamicOutput(None, mapping_key=f"{index}_of_{shards}")


@dg.op(ins={"plan": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing),
       description="Claim ready items one by one and extract them until none is left.")
def extract_shard(context: dg.OpExecutionContext, config: ExtractionShard,
                  postgres: PostgresResource, object_store: ObjectStore, ai: AiResource) -> None:
    shards = int(context.get_mapping_key().split("_of_")[1])
    ai_config = shard_limits(ai.config(), shards)
    extractor = build_extractor(ai_config, ai.extraction_provider, object_store,
                                ai.image_transfer)
    claimer = new_claimer(f"{context.run_id}/{context.get_mapping_key()}")
    part = claimer.split("/", 1)[1]  # shard and attempt: a re-delivered shard is a new part
    seq = iter(range(1, 1_000_000_000))

    def report(conn, summary: ExtractionSummary) -> None:
        save_report(conn, context.run_id, part, summary, next(seq))

    with postgres.connection() as conn:
        as_of = dt.datetime.fromisoformat(plan_of(conn, context.run_id)["as_of"])
    with Heartbeat(postgres, claimer, config.lease_seconds):
        summary = drain_shard(postgres, extractor, claimer=claimer,
                              workers=ai_config.concurrency, log=context.log,
                              policy=ai.retry_policy(), lease_seconds=config.lease_seconds,
                              report=report, as_of=as_of)
    with postgres.connection() as conn:
        report(conn, summary)
    context.log.info(f"extract shard {context.get_mapping_key()} on {this_worker()}: "
                     f"{summary.line()}")


@dg.op(ins={"shards": dg.In(dg.Nothing)}, out=dg.Out(dg.Nothing),
       description="Add up what the shards did.")
def collect_extraction(context: dg.OpExecutionContext, postgres: PostgresResource):
    with postgres.connection() as conn:
        reports = run_reports(conn, context.run_id)
        forget_old_reports(conn)
    plan = ExtractionSummary.from_json(reports[0]["summary"])
    summary = ExtractionSummary(mode=plan.mode, pending=plan.pending)
    rows = ["| shard | worker | records | complete skipped |", "|---|---|---:|---:|"]
    for r in reports[1:]:
        part = ExtractionSummary.from_json(r["summary"])
        summary.merge(part)
        rows.append(f"| {r['part'].split('/')[0]} | {r['worker']} | {part.extracted} | "
                    f"{part.skipped_complete} |")
    summary.busy = plan.busy and summary.extracted == 0
    summary.wall_seconds = reports[0]["since_plan"]
    context.log.info(summary.line())
    return dg.Output(None, metadata={
        **summary.metadata(), "summary_line": summary.line(),
        "shards": len({r["part"].split("/")[0] for r in reports[1:]}),
        "shard_workers": dg.MetadataValue.md("\n".join(rows)),
    })
