"""``reviewed_competitions``: the review state of the catalog, as materialization metadata.

Each refresh also catches up on WhatsApp work that is safe to repeat: approved, unexpired records
whose broadcast failed definitely (never the ``unknown`` ones), and the optional review-group
notice for new pending records.
"""


import dagster as dg

from lomba_pipeline.catalog.review.broadcast import (
    broadcast_competition,
    notify_review_group,
    today_in_jakarta,
)
from lomba_pipeline.resources.object_store import ObjectStore
from lomba_pipeline.resources.postgres import PostgresResource
from lomba_pipeline.resources.whatsapp import WhatsAppGateway
from lomba_pipeline.settings import get_settings

RETRY_LIMIT = 20


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


def retry_failed_broadcasts(pg, store, whatsapp, settings, log) -> int:
    if not whatsapp.enabled or not settings.whatsapp_channel_id:
        return 0
    with pg.cursor() as cur:
        cur.execute(
            """
            SELECT c.id FROM competitions c JOIN broadcasts b
              ON b.competition_id = c.id AND b.purpose = 'publish' AND b.status = 'failed'
            WHERE c.review_status = 'approved' AND (c.end_date IS NULL OR c.end_date >= %s)
            ORDER BY c.id LIMIT %s
            """,
            (today_in_jakarta(), RETRY_LIMIT),
        )
        ids = [r["id"] for r in cur.fetchall()]
    sent = 0
    for cid in ids:
        outcome = broadcast_competition(pg, store, whatsapp, settings, cid, actor="pipeline")
        log.info(f"WhatsApp retry competition {cid}: {outcome.status} ({outcome.message})")
        sent += outcome.status == "sent"
    return sent


@dg.asset(
    group_name="catalog",
    description="Review state of the catalog (pending/approved/rejected/duplicate, broadcasts).",
    kinds={"postgres"},
)
def reviewed_competitions(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    object_store: ObjectStore,
    whatsapp: WhatsAppGateway,
) -> dg.MaterializeResult:
    settings = get_settings()
    retried = retry_failed_broadcasts(postgres, object_store, whatsapp, settings, context.log)
    notified = notify_review_group(postgres, whatsapp, settings)
    counts = review_counts(postgres)
    table = "| status | records |\n|---|---|\n" + "\n".join(
        f"| {name} | {counts[name]} |" for name in ("pending", "approved", "rejected", "duplicate")
    )
    context.log.info(f"review state: {counts}")
    return dg.MaterializeResult(
        metadata={
            **counts,
            "broadcasts_retried_now": retried,
            "review_notices_now": notified,
            "whatsapp_enabled": whatsapp.enabled,
            "summary": dg.MetadataValue.md(table),
        }
    )
