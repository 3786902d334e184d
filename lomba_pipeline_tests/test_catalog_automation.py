"""Posters, extraction and the review state follow the scrapes by Dagster's automation alone.

The conditions are evaluated on the real code location's asset graph with Dagster's own
evaluator, at fixed times (no wall clock): what a scrape makes the automation sensor request,
that nothing is requested twice, and the extraction retry tick.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from lomba_pipeline.definitions import build_definitions

WIB = ZoneInfo("Asia/Jakarta")
CHAIN = {"poster_images", "extracted_fields", "competitions", "reviewed_competitions"}


ALL = ("web_listings", "ig_profile_posts", "manual_link_posts", *sorted(CHAIN),
       "nightly_catalog_report", "nightly_ig_report")


def _requested(result) -> set[str]:
    return {name for name in ALL if result.get_requested_partitions(dg.AssetKey(name))}


def _evaluate(location, instance, at: datetime, cursor=None):
    return dg.evaluate_automation_conditions(
        defs=location, instance=instance, cursor=cursor, evaluation_time=at
    )


def _scraped(instance, asset: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=asset, partition=partition)
    )


def test_a_scrape_of_any_source_brings_the_whole_chain_once():
    location = build_definitions()
    at = datetime(2026, 11, 5, 12, 5, tzinfo=WIB)
    with dg.instance_for_test() as instance:
        first = _evaluate(location, instance, at)
        assert first.total_requested == 0  # nothing scraped yet: nothing to do

        _scraped(instance, "web_listings", "2026-11-05-06:00")
        after_web = _evaluate(location, instance, at, first.cursor)
        assert _requested(after_web) == CHAIN
        for asset in ("poster_images", "extracted_fields", "competitions",
                      "reviewed_competitions"):
            _scraped(instance, asset)
        settled = _evaluate(location, instance, at, after_web.cursor)
        assert _requested(settled) == set()  # done once, not again every tick

        instance.add_dynamic_partitions("manual_links", ["a1b2c3d4e5f60718"])
        _scraped(instance, "manual_link_posts", "a1b2c3d4e5f60718")
        after_link = _evaluate(location, instance, at, settled.cursor)
        assert _requested(after_link) == CHAIN


def test_extraction_retries_on_its_tick_and_the_review_state_hourly():
    location = build_definitions()
    with dg.instance_for_test() as instance:
        for asset in ("web_listings",):
            _scraped(instance, asset, "2026-11-05-00:00")
        for asset in CHAIN:
            _scraped(instance, asset)
        quiet = _evaluate(location, instance, datetime(2026, 11, 5, 0, 30, tzinfo=WIB))
        quiet = _evaluate(location, instance, datetime(2026, 11, 5, 0, 40, tzinfo=WIB),
                          quiet.cursor)
        assert "extracted_fields" not in _requested(quiet)
        retry = _evaluate(location, instance, datetime(2026, 11, 5, 1, 0, 30, tzinfo=WIB),
                          quiet.cursor)
        # 01:00 WIB: failed and re-queued items get their retry; the review state is re-read
        assert {"extracted_fields", "reviewed_competitions"} <= _requested(retry)
        assert "poster_images" not in _requested(retry)
