"""The ``reviewed_competitions`` asset and its schedule."""

import dataclasses

import dagster as dg
import pytest

from lomba_pipeline.catalog.review import assets as review_assets
from lomba_pipeline.catalog.review.assets import reviewed_competitions
from lomba_pipeline.catalog.review.definitions import defs
from lomba_pipeline.resources.whatsapp import WhatsAppGateway
from lomba_pipeline_tests.review.conftest import insert_record

pytestmark = pytest.mark.timeout(120)


def test_materializes_review_counts_and_retries_definite_failures(
    postgres, local_store, review_settings, waha, monkeypatch
):
    monkeypatch.setattr(review_assets, "get_settings", lambda: review_settings)
    for status in ("pending", "pending", "rejected", "duplicate"):
        insert_record(postgres, review_status=status)
    # no deadline: the asset decides "still open" by today's date, which a test must not depend on
    approved = insert_record(postgres, review_status="approved", end_date=None)
    with postgres.cursor() as cur:  # an approval whose message failed while WAHA was down
        cur.execute(
            "INSERT INTO broadcasts (competition_id, channel, idempotency_key, status) "
            "VALUES (%s, %s, %s, 'failed')",
            (approved, review_settings.whatsapp_channel_id,
             f"publish:{approved}:{review_settings.whatsapp_channel_id}"),
        )
    whatsapp = WhatsAppGateway(base_url=waha.url, api_key="waha-test-key")
    result = dg.materialize(
        [reviewed_competitions],
        resources={"postgres": postgres, "object_store": local_store, "whatsapp": whatsapp},
    )
    assert result.success
    meta = result.asset_materializations_for_node("reviewed_competitions")[0].metadata
    counts = {k: meta[k].value for k in ("pending", "approved", "rejected", "duplicate",
                                         "broadcasts_sent", "broadcasts_retried_now")}
    assert counts == {"pending": 2, "approved": 1, "rejected": 1, "duplicate": 1,
                      "broadcasts_sent": 1, "broadcasts_retried_now": 1}
    assert len(waha.delivered) == 1
    again = dg.materialize(
        [reviewed_competitions],
        resources={"postgres": postgres, "object_store": local_store, "whatsapp": whatsapp},
    )
    meta = again.asset_materializations_for_node("reviewed_competitions")[0].metadata
    assert meta["broadcasts_retried_now"].value == 0 and len(waha.delivered) == 1


def test_review_notices_only_when_switched_on(postgres, local_store, review_settings, waha,
                                              monkeypatch):
    insert_record(postgres, title="Lomba Baru")
    whatsapp = WhatsAppGateway(base_url=waha.url, api_key="waha-test-key")
    resources = {"postgres": postgres, "object_store": local_store, "whatsapp": whatsapp}
    monkeypatch.setattr(review_assets, "get_settings", lambda: review_settings)
    dg.materialize([reviewed_competitions], resources=resources)
    assert waha.delivered == []
    on = dataclasses.replace(review_settings, whatsapp_notify_review_group=True)
    monkeypatch.setattr(review_assets, "get_settings", lambda: on)
    dg.materialize([reviewed_competitions], resources=resources)
    assert [m["chatId"] for m in waha.delivered] == [review_settings.whatsapp_review_group_id]


def test_schedule_refreshes_the_asset_in_the_code_location():
    from lomba_pipeline.definitions import defs as location

    assert any(s.name == "review_state_every_30_minutes" for s in defs.schedules)
    schedule = location.resolve_schedule_def("review_state_every_30_minutes")
    assert schedule.job_name == "refresh_review_state"
    assert "whatsapp" in location.resources
    assert schedule.cron_schedule == "*/30 * * * *"
    assert schedule.execution_timezone == "Asia/Jakarta"
