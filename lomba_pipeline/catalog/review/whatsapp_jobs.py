"""``whatsapp_catch_up_job``: the catalog's outbound WhatsApp work that is safe to repeat.

- approved, unexpired records whose broadcast failed *definitely* are sent again (never the
  ``unknown`` ones: they may have been delivered);
- the optional "new records to review" notice goes to the review group;
- a claim still ``sending`` long after its sender should have finished (the process died between
  claiming and recording the outcome) becomes ``unknown`` and waits for a person on the record
  page: the message may be out, so it is never resent by itself.

Both are idempotent through the ``broadcasts`` claims, so a retried or re-run job never sends a
message twice. An op job, not an asset: it changes the world, it does not describe data.
"""

from datetime import timedelta

import dagster as dg

from lomba_pipeline.catalog.review.broadcast import (
    broadcast_competition,
    notify_review_group,
    settle_interrupted_sends,
    today_in_jakarta,
)
from lomba_pipeline.partitions import TIMEZONE
from lomba_pipeline.resources.object_store import ObjectStore
from lomba_pipeline.resources.postgres import PostgresResource
from lomba_pipeline.resources.whatsapp import WhatsAppGateway, WhatsAppTargets

RETRY_LIMIT = 20  # per run: a long outage drains over several runs instead of one burst


def failed_broadcast_ids(pg: PostgresResource, limit: int = RETRY_LIMIT) -> list[int]:
    with pg.cursor() as cur:
        cur.execute(
            """
            SELECT c.id FROM competitions c JOIN broadcasts b
              ON b.competition_id = c.id AND b.purpose = 'publish' AND b.status = 'failed'
            WHERE c.review_status = 'approved' AND (c.end_date IS NULL OR c.end_date >= %s)
            ORDER BY c.id LIMIT %s
            """,
            (today_in_jakarta(), limit),
        )
        return [r["id"] for r in cur.fetchall()]


@dg.op(description="Send again the approved records whose WhatsApp broadcast failed definitely.")
def retry_failed_broadcasts(
    context: dg.OpExecutionContext,
    postgres: PostgresResource,
    object_store: ObjectStore,
    whatsapp: WhatsAppGateway,
    whatsapp_targets: WhatsAppTargets,
) -> int:
    if not whatsapp.enabled or not whatsapp_targets.whatsapp_channel_id:
        context.log.info("WhatsApp channel is off (LOMBA_WAHA_URL / LOMBA_WA_CHANNEL_ID unset)")
        return 0
    sent = 0
    for cid in failed_broadcast_ids(postgres):
        outcome = broadcast_competition(
            postgres, object_store, whatsapp, whatsapp_targets, cid, actor="pipeline"
        )
        context.log.info(f"WhatsApp retry competition {cid}: {outcome.status} ({outcome.message})")
        sent += outcome.status == "sent"
    context.add_output_metadata({"broadcasts_retried": sent})
    return sent


@dg.op(description="Tell the review group how many new records wait (when switched on).")
def notify_review_group_op(
    context: dg.OpExecutionContext,
    postgres: PostgresResource,
    whatsapp: WhatsAppGateway,
    whatsapp_targets: WhatsAppTargets,
) -> int:
    notified = notify_review_group(postgres, whatsapp, whatsapp_targets)
    context.add_output_metadata({"review_notices": notified})
    return notified


class SettleConfig(dg.Config):
    # a send takes seconds; a claim this old has no living sender
    stale_after_minutes: float = 10.0


@dg.op(description="Claims whose sender died mid-send become 'unknown', for a person to decide.")
def settle_interrupted_broadcasts(
    context: dg.OpExecutionContext, config: SettleConfig, postgres: PostgresResource
) -> int:
    with postgres.connection() as conn:
        settled = settle_interrupted_sends(conn, timedelta(minutes=config.stale_after_minutes))
    for row in settled:
        context.log.warning(
            f"WhatsApp {row['purpose']} of competition {row['competition_id']}: interrupted "
            "mid-send; marked unknown for a person to check the channel"
        )
    context.add_output_metadata({"interrupted_sends": len(settled)})
    return len(settled)


# three light ops: in the run worker's process (one import of the code location, not four)
@dg.job(description="WhatsApp catch-up: interrupted sends to a person, failed broadcasts "
        "again, review-group notices.", executor_def=dg.in_process_executor)
def whatsapp_catch_up_job():
    settle_interrupted_broadcasts()
    retry_failed_broadcasts()
    notify_review_group_op()


whatsapp_catch_up_schedule = dg.ScheduleDefinition(
    name="whatsapp_catch_up_schedule",
    job=whatsapp_catch_up_job,
    cron_schedule="*/30 * * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
