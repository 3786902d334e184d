"""Dagster assets for extraction.

``extracted_fields`` drains the extraction queue (``raw_items.needs_extraction``) and streams each
record into ``competitions``, through the shard steps of ``shards.py``; ``competitions`` reports the catalog table as a whole, and an asset
check flags impossible records.

Not partitioned, on purpose: the queue spans every 6-hour window, every IG profile and every
manual link, and a record that failed in an earlier window must be retried by the next run. A
per-window partition would either miss those retries or re-scan old windows.
"""


import dagster as dg

from lomba_pipeline.catalog.conditions import EAGER_OR_RETRY
from lomba_pipeline.catalog.extraction.record import DATA_FIELDS
from lomba_pipeline.catalog.extraction.shards import (
    collect_extraction,
    extract_shard,
    plan_extraction,
)
from lomba_pipeline.catalog.extraction.store import (
    ai_cost_per_day,
    catalog_fill_rates,
    impossible_records,
)
from lomba_pipeline.resources.postgres import PostgresResource


@dg.graph_asset(
    group_name="extract",
    ins={"poster_images": dg.AssetIn(dagster_type=dg.Nothing)},
    kinds={"python", "postgres"},
    automation_condition=EAGER_OR_RETRY,
    description="Caption → Zhipu text step → poster OCR (Mistral → Gemini) for still-empty key "
    "fields, rules filling the rest; each record upserted into competitions when done. Fans "
    "out into shards that claim items (one shard on one machine; several over Celery workers).",
)
def extracted_fields(poster_images):
    return collect_extraction(plan_extraction(poster_images).map(extract_shard).collect())


CATALOG_FIELDS = tuple(name for name in DATA_FIELDS if name not in ("description",))


@dg.asset(
    group_name="catalog",
    deps=[extracted_fields],
    kinds={"postgres"},
    automation_condition=dg.AutomationCondition.eager(),
    description="The competitions table: record counts, extraction status, fill rate per field, "
    "and the AI cost of the last 14 days per day and provider (from the attempts ledger).",
)
def competitions(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    with postgres.connection() as conn:
        total, rates, statuses = catalog_fill_rates(conn, CATALOG_FIELDS)
        cost_rows = ai_cost_per_day(conn, days=14)
    table = ["| field | fill rate |", "|---|---:|"] + [
        f"| {name} | {rate:.0%} |" for name, rate in rates.items()
    ]
    cost_table = [
        "| hari | penyedia | panggilan | gagal | token | halaman OCR | perkiraan biaya (USD) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ] + [
        f"| {r['day']} | {r['provider']} | {r['calls']} | {r['failed_calls']} | "
        f"{r['prompt_tokens'] + r['completion_tokens']} | {r['ocr_pages']} | {r['cost_usd']:.4f} |"
        for r in cost_rows
    ]
    return dg.MaterializeResult(
        metadata={
            "records": total,
            **{f"status/{k}": v for k, v in sorted(statuses.items())},
            **{f"fill_rate/{k}": round(v, 3) for k, v in rates.items()},
            "fill_rates": dg.MetadataValue.md("\n".join(table)),
            "ai_cost_usd_14_days": round(sum(r["cost_usd"] for r in cost_rows), 6),
            "ai_cost_per_day": dg.MetadataValue.md("\n".join(cost_table)),
        }
    )


@dg.asset_check(asset=competitions, description="No record without a title, with a deadline "
                "before registration opens, an event ending before it starts, or a deadline "
                "more than two years away.")
def impossible_competitions(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        bad = impossible_records(conn)
    rows = ["| id | problem | title | url |", "|---|---|---|---|"] + [
        f"| {r['id']} | {r['problem']} | {(r['title'] or '')[:40]} | {r['canonical_url']} |"
        for r in bad[:20]
    ]
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"impossible_records": len(bad), "examples": dg.MetadataValue.md("\n".join(rows))},
    )
