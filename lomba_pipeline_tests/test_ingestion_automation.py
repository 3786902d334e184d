"""The 6-hourly schedules and the ingestion wiring."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from lomba_pipeline.catalog.ingestion.automation import catalog_web_schedule
from lomba_pipeline.catalog.ingestion.service import latest_window_key
from lomba_pipeline.catalog.sources.config import load_sources
from lomba_pipeline.definitions import build_definitions
from lomba_pipeline.resources.instagram import InstagramReader
from lomba_pipeline.settings import get_settings

WIB = ZoneInfo("Asia/Jakarta")


def test_the_tick_launches_the_web_run_and_one_tagged_run_per_profile():
    location = build_definitions()
    repo = location.get_repository_def()
    ig_schedule = location.resolve_schedule_def("catalog_ig_schedule")
    profiles = load_sources(get_settings().sources_file).instagram.profiles
    assert profiles, "config/sources.yaml lists the IG profiles the catalog reads"
    tick = datetime(2026, 11, 5, 12, 0, tzinfo=WIB)

    def evaluate(schedule, reader: InstagramReader):
        # the context opens its own instance from the ref: close it (``with``), or it stays
        # Dagster's current definitions-state storage after this test
        with dg.instance_for_test() as instance, dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick,
            resources={"instagram": reader}, repository_def=repo,
        ) as context:
            result = schedule.evaluate_tick(context)
            return result.run_requests, result.skip_message

    configured = InstagramReader(scraper_username="pembaca.katalog")
    web, _ = evaluate(catalog_web_schedule, configured)
    ig, _ = evaluate(ig_schedule, configured)
    assert [(r.partition_key, r.run_key) for r in web] == [
        ("2026-11-05-06:00", "web-2026-11-05-06:00")
    ]
    assert len(ig) == len(profiles)
    for request, profile in zip(ig, profiles, strict=True):
        assert request.partition_key == f"{profile}|2026-11-05-06:00"
        assert request.tags["ig/account"] == f"profile:{profile}"
        # the gateway's 10 attempts are all: no run retry on top of them
        assert request.tags["dagster/retry_on_asset_or_op_failure"] == "false"
    skipped, message = evaluate(ig_schedule, InstagramReader())
    assert not skipped and "not configured" in message
    assert location.resolve_schedule_def("catalog_web_schedule").cron_schedule == "0 */6 * * *"
    assert ig_schedule.execution_timezone == "Asia/Jakarta"


def test_latest_window_is_the_last_complete_one_in_wib():
    assert latest_window_key(datetime(2026, 11, 5, 5, 59, tzinfo=WIB)) == "2026-11-04-18:00"
    assert latest_window_key(datetime(2026, 11, 5, 6, 0, tzinfo=WIB)) == "2026-11-05-00:00"


def test_instagram_secrets_stay_env_vars_in_the_wiring(monkeypatch):
    from lomba_pipeline.settings import load_settings

    monkeypatch.setenv("LOMBA_IG_SCRAPER_USERNAME", "pembaca.katalog")
    monkeypatch.setenv("LOMBA_IG_SCRAPER_SESSIONID", "123%3Asangat-rahasia")
    reader = build_definitions(load_settings()).resources["instagram"]
    assert reader.scraper_username == "pembaca.katalog"
    assert isinstance(reader.scraper_sessionid, dg.EnvVar)
    assert "sangat-rahasia" not in repr(reader)
    assert {"instagram", "catalog_sources"} <= set(build_definitions().resources)
