"""The nightly catalog report of one demo day, its WARN check and its once-a-day WhatsApp text.

The clock is frozen (time-machine) on fixed days in November 2026; scrape materializations are
recorded on those days in a test instance, and the day's rows are written with explicit times.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import time_machine

from lomba_pipeline.catalog.reporting.assets import nightly_catalog_report, usual_sources_yielded
from lomba_pipeline.resources.whatsapp import WhatsAppGateway, WhatsAppTargets
from lomba_pipeline_tests.fakes.waha import FakeWaha

WIB = ZoneInfo("Asia/Jakarta")
DAY = "2026-11-05"
ADMIN_GROUP = "120363000000000001@g.us"


def _scrape(instance, when: datetime, reports: list[dict]) -> None:
    with time_machine.travel(when, tick=False):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="web_listings",
                partition=None,
                metadata={"source_reports": dg.MetadataValue.json(reports)},
            )
        )


def _report(kind, name, found, new, errors=()):
    return {"kind": kind, "name": name, "status": "ok", "found": found, "new": new,
            "requeued": 0, "pending": 0, "complete": 0, "errors": list(errors)}


def _seed_day(postgres) -> None:
    at = datetime(2026, 11, 5, 6, 30, tzinfo=WIB)
    with postgres.cursor() as cur:
        for n, status in enumerate(["done", "done", "partial"]):
            cur.execute(
                "INSERT INTO raw_items (source_kind, source_name, canonical_url, first_seen_at,"
                " image_error) VALUES ('web', 'infolomba', %s, %s, %s) RETURNING id",
                (f"https://infolomba.test/e/{n}", at, "poster is not an image" if n == 2 else None),
            )
            raw_id = cur.fetchone()["id"]
            cur.execute(
                "INSERT INTO competitions (raw_item_id, canonical_url, title, organizer,"
                " extraction_status, extracted_at, created_at, review_status)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 'pending')",
                (raw_id, f"https://infolomba.test/e/{n}", f"Lomba {n}",
                 "Himpunan" if n < 2 else None, status, at, at),
            )
            cur.execute(
                "INSERT INTO extraction_attempts (raw_item_id, provider, step, outcome, error,"
                " prompt_tokens, completion_tokens, cost_usd, created_at) VALUES (%s, 'zhipu',"
                " 'text', %s, %s, 900, 200, 0.0005, %s)",
                (raw_id, "ok" if n < 2 else "rate_limited",
                 None if n < 2 else "429 Too Many Requests", at),
            )
            cur.execute(  # the rules run is in the ledger too, but it is not an AI call
                "INSERT INTO extraction_attempts (raw_item_id, provider, step, outcome,"
                " created_at) VALUES (%s, 'rules', 'text', 'ok', %s)", (raw_id, at),
            )
        # yesterday's record must not count today
        cur.execute(
            "INSERT INTO raw_items (source_kind, source_name, canonical_url, first_seen_at)"
            " VALUES ('web', 'blog', 'https://blog.test/old', %s)",
            (datetime(2026, 11, 4, 9, tzinfo=WIB),),
        )


@pytest.mark.timeout(120)
def test_nightly_catalog_report_of_a_demo_day(postgres):
    _seed_day(postgres)
    targets = WhatsAppTargets(whatsapp_admin_group_id=ADMIN_GROUP)
    with dg.instance_for_test() as instance, FakeWaha(api_key="k") as waha:
        for day in (1, 2, 3, 4):  # both sources usually find items...
            _scrape(instance, datetime(2026, 11, day, 6, 5, tzinfo=WIB),
                    [_report("Web", "infolomba", 10, 2), _report("Web", "blog", 3, 1)])
        # ...on the report day the blog found nothing (a changed site)
        _scrape(instance, datetime(2026, 11, 5, 6, 5, tzinfo=WIB),
                [_report("Web", "infolomba", 12, 3), _report("Web", "blog", 0, 0,
                                                              ["blog: feed returned 0 entries"])])
        resources = {"postgres": postgres, "whatsapp": WhatsAppGateway(base_url=waha.url,
                                                                       api_key="k"),
                     "whatsapp_targets": targets}
        with time_machine.travel(datetime(2026, 11, 5, 21, 0, tzinfo=WIB), tick=False):
            result = dg.materialize([nightly_catalog_report, usual_sources_yielded],
                                    partition_key=DAY, instance=instance, resources=resources)
            again = dg.materialize([nightly_catalog_report], partition_key=DAY,
                                   instance=instance, resources=resources)
    meta = {k: v.value for k, v in
            result.asset_materializations_for_node("nightly_catalog_report")[0].metadata.items()}
    assert meta["report_date"] == DAY
    assert meta["items_found"] == 12 and meta["new_items"] == 3 and meta["new_records"] == 3
    assert (meta["extraction/done"], meta["extraction/partial"]) == (2, 1)
    assert meta["fill_rate/organizer"] == pytest.approx(2 / 3, abs=0.001)
    assert meta["ai_calls"] == 3
    assert meta["ai_calls_by_provider"] == [{"provider": "zhipu", "calls": 3, "failed": 1,
                                             "prompt_tokens": 2700, "completion_tokens": 600,
                                             "ocr_pages": 0, "cost_usd": 0.0015}]
    assert meta["ai_cost_usd"] == 0.0015
    assert meta["waiting_for_review"] == 3
    failures = {f["what"]: f for f in meta["failures"]}
    assert failures["extraction zhipu text"]["first_error"] == "429 Too Many Requests"
    assert failures["poster"]["count"] == 1
    assert "| Web blog | 1 | 0 | 0 | 1 | blog: feed returned 0 entries |" in meta["sources"]
    assert meta["whatsapp_delivery"] == "sent"
    # the admin group got the text once, in Indonesian, though the report ran twice
    assert [m["chatId"] for m in waha.delivered] == [ADMIN_GROUP]
    assert waha.delivered[0]["text"].startswith(f"Laporan katalog lomba {DAY}")
    assert "Web infolomba: 12 ditemukan, 3 baru" in waha.delivered[0]["text"]
    again_meta = again.asset_materializations_for_node("nightly_catalog_report")[0].metadata
    assert again_meta["whatsapp_delivery"].value == "already sent"

    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["silent_sources"].value == ["Web blog"]
