"""Lane C: ``nightly_ig_report`` (daily partition, Asia/Jakarta) and its asset check."""

from __future__ import annotations

from datetime import date

import dagster as dg

from lomba_pipeline.admin_group_notice import send_daily_text_once
from lomba_pipeline.ig_ops.clock import IgClock
from lomba_pipeline.ig_ops.jobs import LIGHT_JOB_EXECUTOR
from lomba_pipeline.ig_ops.report_numbers import (
    COLUMNS,
    daily_numbers,
    markdown_table,
    missing_posts,
    summary_text,
)
from lomba_pipeline.partitions import daily_report_schedule
from lomba_pipeline.partitions import daily_reports as daily
from lomba_pipeline.resources.postgres import PostgresResource
from lomba_pipeline.resources.whatsapp import WhatsAppGateway, WhatsAppTargets

_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(c, "string" if c in ("account", "cooldown") else "int") for c in COLUMNS
    ]
)


@dg.asset(
    partitions_def=daily,
    group_name="ig_ops",
    kinds={"postgres"},
    description="Per-account posts, replies, DMs, successes and failures of one day.",
)
def nightly_ig_report(
    context,
    postgres: PostgresResource,
    ig_clock: IgClock,
    whatsapp: WhatsAppGateway,
    whatsapp_targets: WhatsAppTargets,
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    with postgres.connection() as conn:
        rows, errors = daily_numbers(conn, day, ig_clock.now())
        text = summary_text(conn, day, ig_clock.now())
    missing = missing_posts(rows)
    delivery = send_daily_text_once(
        postgres, whatsapp, whatsapp_targets.whatsapp_admin_group_id, "ig_report",
        day.isoformat(), text,
    )
    context.log.info(f"nightly report {day}: WhatsApp admin group: {delivery}")
    return dg.MaterializeResult(
        metadata={
            "report_date": dg.MetadataValue.text(day.isoformat()),
            "accounts": len(rows),
            "posts": sum(r["posts"] for r in rows),
            "replies": sum(r["replies"] for r in rows),
            "dms": sum(r["dms"] for r in rows),
            "failures": sum(r["failures"] for r in rows),
            "summary": dg.MetadataValue.md(markdown_table(rows)),
            "table": dg.MetadataValue.table(
                records=[dg.TableRecord({c: r[c] for c in COLUMNS}) for r in rows], schema=_SCHEMA
            ),
            "errors": dg.MetadataValue.json(
                [
                    {"account": e["account"], "at": e["at"].isoformat(), "error": e["error"]}
                    for e in errors[-50:]
                ]
            ),
            "missing_posts": dg.MetadataValue.json(missing),
            # what the admin WhatsApp group receives
            "whatsapp_text": dg.MetadataValue.text(text),
            "whatsapp_delivery": dg.MetadataValue.text(delivery),
            "dagster/row_count": len(rows),
        }
    )


@dg.asset_check(
    asset=nightly_ig_report,
    blocking=False,
    description="Warns when an enabled account has no post on the report day.",
)
def all_accounts_posted(
    context, postgres: PostgresResource, ig_clock: IgClock
) -> dg.AssetCheckResult:
    # the check runs in the same partitioned run as the report
    key = context.run.tags.get("dagster/partition") or ig_clock.today().isoformat()
    with postgres.connection() as conn:
        rows, _errors = daily_numbers(conn, date.fromisoformat(key), ig_clock.now())
    missing = missing_posts(rows)
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing": dg.MetadataValue.json(missing), "day": key},
    )


ig_report_job = dg.define_asset_job(
    "ig_report_job",
    selection=[nightly_ig_report],
    partitions_def=daily,
    executor_def=LIGHT_JOB_EXECUTOR,
)


ig_nightly_report_schedule = daily_report_schedule(
    ig_report_job, "ig_nightly_report_schedule", "ig_report"
)
