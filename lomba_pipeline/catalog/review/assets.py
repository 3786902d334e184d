"""``reviewed_competitions``: the review state of the catalog, as materialization metadata.

People review in the admin panel; this asset reads the outcome (it sends nothing: WhatsApp
catch-up work lives in ``whatsapp_jobs.py``).
"""


import dagster as dg

from lomba_pipeline.catalog.conditions import EAGER_OR_HOURLY
from lomba_pipeline.catalog.review.broadcast import today_in_jakarta
from lomba_pipeline.resources.postgres import PostgresResource


def review_counts(pg: PostgresResource) -> dict[str, int]:
    with pg.cursor() as cur:
        cur.execute(
            """
            SELECT
              count(*) FILTER (WHERE review_status = 'pending')   AS pending,
              count(*) FILTER (WHERE review_status = 'approved')  AS approved,
              count(*) FILTER (WHERE review_status = 'rejected')  AS rejected,
              count(*) FILTER (WHERE review_status = 'duplicate') AS duplicate,
              count(*) FILTER (WHERE review_status = 'approved'
                               AND (end_date IS NULL OR end_date >= %s)) AS approved_open
            FROM competitions
            """,
            (today_in_jakarta(),),
        )
        counts = dict(cur.fetchone())
        cur.execute(
            """
            SELECT
              count(*) FILTER (WHERE purpose = 'publish' AND status = 'sent')    AS broadcasts_sent,
              count(*) FILTER (WHERE purpose = 'publish' AND status = 'failed')  AS broadcasts_failed,
              count(*) FILTER (WHERE purpose = 'publish' AND status = 'unknown') AS broadcasts_unknown,
              count(*) FILTER (WHERE purpose = 'review_notify' AND status = 'sent')
                  AS review_notices_sent
            FROM broadcasts
            """
        )
        counts.update(cur.fetchone())
        cur.execute("SELECT count(*) AS n FROM duplicate_candidates")
        counts["duplicate_candidate_pairs"] = cur.fetchone()["n"]
    return {k: int(v) for k, v in counts.items()}


@dg.asset(
    group_name="catalog",
    deps=[dg.AssetKey("competitions")],
    automation_condition=EAGER_OR_HOURLY,
    description="Review state of the catalog (pending/approved/rejected/duplicate, broadcasts), "
    "as people left it in the admin panel.",
    kinds={"postgres"},
)
def reviewed_competitions(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    counts = review_counts(postgres)
    table = "| status | records |\n|---|---|\n" + "\n".join(
        f"| {name} | {counts[name]} |" for name in ("pending", "approved", "rejected", "duplicate")
    )
    context.log.info(f"review state: {counts}")
    return dg.MaterializeResult(
        metadata={
            **counts,
            "summary": dg.MetadataValue.md(table),
        }
    )
