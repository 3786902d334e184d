"""``reviewed_competitions`` (what people decided) and ``whatsapp_catch_up_job`` (what is sent)."""

import dagster as dg
import pytest

from lomba_pipeline.catalog.review.assets import reviewed_competitions
from lomba_pipeline.catalog.review.whatsapp_jobs import whatsapp_catch_up_job
from lomba_pipeline.resources.whatsapp import (
    WhatsAppGateway,
    WhatsAppTargets,
    whatsapp_targets_from_settings,
)
from lomba_pipeline_tests.review.conftest import insert_record

pytestmark = pytest.mark.timeout(120)


def test_materializes_review_counts_and_sends_nothing(postgres, waha):
    for status in ("pending", "pending", "rejected", "duplicate", "approved"):
        insert_record(postgres, review_status=status)
    result = dg.materialize([reviewed_competitions], resources={"postgres": postgres})
    assert result.success
    meta = result.asset_materializations_for_node("reviewed_competitions")[0].metadata
    counts = {k: meta[k].value for k in ("pending", "approved", "rejected", "duplicate")}
    assert counts == {"pending": 2, "approved": 1, "rejected": 1, "duplicate": 1}
    assert waha.delivered == []


def _catch_up(postgres, local_store, whatsapp, targets):
    return whatsapp_catch_up_job.execute_in_process(
        resources={"postgres": postgres, "object_store": local_store, "whatsapp": whatsapp,
                   "whatsapp_targets": targets},
    )


def test_catch_up_job_resends_definite_failures_once(postgres, local_store, review_settings,
                                                     waha):
    # no deadline: "still open" is decided by today's date, which a test must not depend on
    approved = insert_record(postgres, review_status="approved", end_date=None)
    with postgres.cursor() as cur:  # an approval whose message failed while WAHA was down
        cur.execute(
            "INSERT INTO broadcasts (competition_id, channel, idempotency_key, status) "
            "VALUES (%s, %s, %s, 'failed')",
            (approved, review_settings.whatsapp.channel_id,
             f"publish:{approved}:{review_settings.whatsapp.channel_id}"),
        )
    whatsapp = WhatsAppGateway(base_url=waha.url, api_key="waha-test-key")
    targets = whatsapp_targets_from_settings(review_settings)
    result = _catch_up(postgres, local_store, whatsapp, targets)
    assert result.success and result.output_for_node("retry_failed_broadcasts") == 1
    assert len(waha.delivered) == 1
    again = _catch_up(postgres, local_store, whatsapp, targets)
    assert again.output_for_node("retry_failed_broadcasts") == 0 and len(waha.delivered) == 1


def test_review_notices_only_when_switched_on(postgres, local_store, review_settings, waha):
    insert_record(postgres, title="Lomba Baru")
    whatsapp = WhatsAppGateway(base_url=waha.url, api_key="waha-test-key")
    targets = whatsapp_targets_from_settings(review_settings)
    _catch_up(postgres, local_store, whatsapp, targets)
    assert waha.delivered == []
    on = WhatsAppTargets(**{**targets.model_dump(), "whatsapp_notify_review_group": True})
    _catch_up(postgres, local_store, whatsapp, on)
    assert [m["chatId"] for m in waha.delivered] == [review_settings.whatsapp.review_group_id]
    _catch_up(postgres, local_store, whatsapp, on)  # the same record is announced once
    assert len(waha.delivered) == 1


def test_catch_up_schedule_in_the_code_location():
    from lomba_pipeline.definitions import build_definitions

    location = build_definitions()
    schedule = location.resolve_schedule_def("whatsapp_catch_up_schedule")
    assert schedule.job_name == "whatsapp_catch_up_job"
    assert {"whatsapp", "whatsapp_targets"} <= set(location.resources)
    assert schedule.cron_schedule == "*/30 * * * *"
    assert schedule.execution_timezone == "Asia/Jakarta"


def _stuck_send(postgres, cid, channel, minutes_ago):
    """A claim whose sender died: 'sending', claimed ``minutes_ago`` by the database's clock."""
    with postgres.cursor() as cur:
        cur.execute(
            "INSERT INTO broadcasts (competition_id, channel, idempotency_key, status, claimed_at)"
            " VALUES (%s, %s, %s, 'sending', now() - make_interval(mins => %s))",
            (cid, channel, f"publish:{cid}:{channel}", minutes_ago),
        )


def test_an_interrupted_send_goes_to_a_person_never_resent(postgres, local_store,
                                                            review_settings, waha):
    channel = review_settings.whatsapp.channel_id
    old = insert_record(postgres, review_status="approved", end_date=None)
    fresh = insert_record(postgres, review_status="approved", end_date=None)
    _stuck_send(postgres, old, channel, minutes_ago=45)
    _stuck_send(postgres, fresh, channel, minutes_ago=1)  # its sender may still be at work
    whatsapp = WhatsAppGateway(base_url=waha.url, api_key="waha-test-key")
    targets = whatsapp_targets_from_settings(review_settings)
    for _ in range(2):
        result = _catch_up(postgres, local_store, whatsapp, targets)
        assert result.success
    with postgres.cursor() as cur:
        cur.execute("SELECT competition_id, status FROM broadcasts ORDER BY competition_id")
        statuses = {r["competition_id"]: r["status"] for r in cur.fetchall()}
        cur.execute("SELECT count(*) AS n FROM events WHERE kind = 'broadcast.unknown'"
                    " AND subject = %s", (f"competition:{old}",))
        events = cur.fetchone()["n"]
    assert statuses == {old: "unknown", fresh: "sending"}
    assert events == 1
    assert waha.delivered == []  # the message may be out already: nothing is sent by itself
