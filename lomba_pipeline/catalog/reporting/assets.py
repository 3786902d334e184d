"""``nightly_catalog_report``: the day's catalog summary as materialization metadata (21:00 WIB).

Beside the Instagram report: per source what the scrapes found, new records, extraction status
and fill rate per field, AI calls per provider, review and broadcast numbers, duplicates found,
failures with their first error. The admin WhatsApp group receives its text once per day.
"""


from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from lomba_pipeline.admin_group_notice import send_daily_text_once
from lomba_pipeline.catalog.reporting.numbers import catalog_day
from lomba_pipeline.catalog.reporting.scrape_history import source_days, yielding_days
from lomba_pipeline.catalog.reporting.text import markdown_sources, summary_text
from lomba_pipeline.partitions import TIMEZONE, daily_report_schedule, daily_reports
from lomba_pipeline.resources.postgres import PostgresResource
from lomba_pipeline.resources.whatsapp import WhatsAppGateway, WhatsAppTargets

USUAL_DAYS = 7  # "usually yields": found items on at least USUAL_MIN of the previous USUAL_DAYS
USUAL_MIN = 3


def day_bounds(day_key: str) -> tuple[datetime, datetime]:
    start = datetime.combine(datetime.fromisoformat(day_key).date(), time(), ZoneInfo(TIMEZONE))
    return start, start + timedelta(days=1)


@dg.asset(
    partitions_def=daily_reports,
    group_name="reporting",
    kinds={"postgres"},
    deps=[dg.AssetKey("reviewed_competitions")],
    description="The day's catalog summary: sources, records, extraction, AI calls, review, "
    "broadcasts, duplicates and failures. Sent to the admin WhatsApp group once per day.",
)
def nightly_catalog_report(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    whatsapp: WhatsAppGateway,
    whatsapp_targets: WhatsAppTargets,
) -> dg.MaterializeResult:
    day = context.partition_key
    start, end = day_bounds(day)
    sources = source_days(context.instance, start, end)
    with postgres.connection() as conn:
        numbers = catalog_day(conn, start, end)
    text = summary_text(day, sources, numbers)
    delivery = send_daily_text_once(
        postgres, whatsapp, whatsapp_targets.whatsapp_admin_group_id, "catalog_report", day, text
    )
    context.log.info(f"nightly catalog report {day}: WhatsApp admin group: {delivery}")
    status = numbers["extraction_status"]
    return dg.MaterializeResult(
        metadata={
            "report_date": dg.MetadataValue.text(day),
            "items_found": sum(s.found for s in sources.values()),
            "new_items": numbers["new_items"],
            "new_records": numbers["new_records"],
            "extracted": numbers["extracted"],
            **{f"extraction/{k}": status.get(k, 0) for k in ("done", "partial", "failed")},
            **{f"fill_rate/{k}": round(v, 3) for k, v in numbers["fill_rate"].items()},
            "ai_calls": sum(p["calls"] for p in numbers["providers"]),
            "ai_calls_by_provider": dg.MetadataValue.json(numbers["providers"]),
            "ai_cost_usd": round(sum(p["cost_usd"] for p in numbers["providers"]), 6),
            "waiting_for_review": numbers["waiting_for_review"],
            "approved": numbers["approved"],
            "broadcast": numbers["broadcast"],
            "duplicate_pairs_found": numbers["duplicate_pairs_found"],
            "failures": dg.MetadataValue.json(numbers["failures"]),
            "sources": markdown_sources(sources),
            "whatsapp_text": dg.MetadataValue.text(text),
            "whatsapp_delivery": dg.MetadataValue.text(delivery),
        }
    )


def silent_sources(instance: dg.DagsterInstance, day: str) -> list[str]:
    """Sources that found items on most recent days but nothing on ``day``."""
    start, end = day_bounds(day)
    today = source_days(instance, start, end)
    previous = [day_bounds((start - timedelta(days=n)).date().isoformat())
                for n in range(1, USUAL_DAYS + 1)]
    usual = yielding_days(instance, previous)
    return sorted(key for key, days in usual.items()
                  if days >= USUAL_MIN and (key not in today or today[key].found == 0))


@dg.asset_check(
    asset=nightly_catalog_report,
    blocking=False,
    description=f"Warns when a source that found items on at least {USUAL_MIN} of the previous "
    f"{USUAL_DAYS} days found nothing on the report day (a changed site, a blocked account).",
)
def usual_sources_yielded(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    day = context.run.tags.get("dagster/partition")
    silent = silent_sources(context.instance, day)
    return dg.AssetCheckResult(
        passed=not silent,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"day": day, "silent_sources": dg.MetadataValue.json(silent)},
    )


# one light step: run it in the run worker's process instead of paying a second process start
catalog_report_job = dg.define_asset_job(
    "catalog_report_job", selection=[nightly_catalog_report], partitions_def=daily_reports,
    executor_def=dg.in_process_executor,
)


catalog_report_schedule = daily_report_schedule(
    catalog_report_job, "catalog_report_schedule", "catalog_report"
)
