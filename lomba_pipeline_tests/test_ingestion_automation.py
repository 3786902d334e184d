"""The 6-hourly schedules, the poster backlog sensor and the ingestion wiring."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from lomba_pipeline.catalog.ingestion.assets import ig_profiles
from lomba_pipeline.catalog.ingestion.automation import (
    catalog_ig_schedule,
    catalog_web_schedule,
    poster_backlog_sensor,
)
from lomba_pipeline.catalog.ingestion.service import latest_window_key
from lomba_pipeline.definitions import defs

WIB = ZoneInfo("Asia/Jakarta")


def test_the_tick_launches_the_web_run_and_one_tagged_run_per_profile(monkeypatch):
    from lomba_pipeline.settings import get_settings

    monkeypatch.setenv("LOMBA_IG_SCRAPER_USERNAME", "pembaca.katalog")
    get_settings.cache_clear()
    tick = datetime(2026, 11, 5, 12, 0, tzinfo=WIB)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        web = catalog_web_schedule.evaluate_tick(context).run_requests
        ig = catalog_ig_schedule.evaluate_tick(context).run_requests
    assert [(r.partition_key, r.run_key) for r in web] == [
        ("2026-11-05-06:00", "web-2026-11-05-06:00")
    ]
    profiles = ig_profiles.get_partition_keys()
    assert len(ig) == len(profiles) > 0
    for request, profile in zip(ig, profiles, strict=True):
        assert request.partition_key == f"{profile}|2026-11-05-06:00"
        assert request.tags["ig/account"] == f"profile:{profile}"
    monkeypatch.delenv("LOMBA_IG_SCRAPER_USERNAME")
    get_settings.cache_clear()
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        skipped = catalog_ig_schedule.evaluate_tick(context)
    assert not skipped.run_requests and "not configured" in skipped.skip_message
    assert defs.resolve_schedule_def("catalog_web_schedule").cron_schedule == "0 */6 * * *"
    assert defs.resolve_schedule_def("catalog_ig_schedule").execution_timezone == "Asia/Jakarta"


def test_latest_window_is_the_last_complete_one_in_wib():
    assert latest_window_key(datetime(2026, 11, 5, 5, 59, tzinfo=WIB)) == "2026-11-04-18:00"
    assert latest_window_key(datetime(2026, 11, 5, 6, 0, tzinfo=WIB)) == "2026-11-05-00:00"


def test_poster_backlog_sensor_asks_once_per_new_backlog(postgres):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"postgres": postgres})
        assert isinstance(poster_backlog_sensor(context), dg.SkipReason)
        with postgres.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO raw_items (source_kind, source_name, canonical_url, image_url)"
                " VALUES ('ig', 'p', 'https://www.instagram.com/p/XYZXYZXYZ/', 'https://x/y.jpg')"
                " RETURNING id"
            )
            item_id = cur.fetchone()[0]
        result = poster_backlog_sensor(context)
        assert [r.run_key for r in result.run_requests] == [f"posters-{item_id}"]
        again = dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"postgres": postgres}
        )
        assert isinstance(poster_backlog_sensor(again), dg.SkipReason)


def test_instagram_secrets_stay_env_vars_in_the_wiring(monkeypatch):
    from lomba_pipeline.definitions import build_definitions
    from lomba_pipeline.settings import load_settings

    monkeypatch.setenv("LOMBA_IG_SCRAPER_USERNAME", "pembaca.katalog")
    monkeypatch.setenv("LOMBA_IG_SCRAPER_SESSIONID", "123%3Asangat-rahasia")
    reader = build_definitions(load_settings()).resources["instagram"]
    assert reader.scraper_username == "pembaca.katalog"
    assert isinstance(reader.scraper_sessionid, dg.EnvVar)
    assert "sangat-rahasia" not in repr(reader)
    assert {"instagram", "catalog_sources"} <= set(defs.resources)
