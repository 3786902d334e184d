"""The Instagram lanes through a running ``lomba dev`` (webserver, daemon, run queue, run
workers; run retries ON in the instance config, as shipped) against the strict fake Instagram.
One ``lomba dev`` serves every test of this module (it takes a minute to start); the tests run
in file order and the spec test, which moves the post times, comes last."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from lomba_pipeline.resources.postgres import ensure_database
from lomba_pipeline_tests.conftest import _drop_database
from lomba_pipeline_tests.ig_ops.daemon_world import daemon_world, uid, wait_until
from lomba_pipeline_tests.ig_ops.world import SPEC_FILE, spec_for_tests

pytestmark = pytest.mark.timeout(300)
ACCOUNTS = ["ig_001", "ig_002", "ig_003"]
WIB = ZoneInfo("Asia/Jakarta")


@pytest.fixture(scope="module")
def world(test_environment, tmp_path_factory):
    server = test_environment["server_url"]
    name = f"dagster_own_{uuid.uuid4().hex[:10]}"
    dagster_url = ensure_database(server, name)
    try:
        with daemon_world(
            test_environment["app_url"], dagster_url, tmp_path_factory.mktemp("daemon_ig"),
            ACCOUNTS, spec_text=spec_for_tests(),
        ) as started:
            yield started
    finally:
        _drop_database(server, name)


def test_a_comment_gets_its_reply_through_the_daemon(world):
    comment = world.comment("ig_002", "Kak, link daftarnya mana?")
    wait_until(lambda: world.fake.replies_to(comment), 120, "the reply on Instagram")
    assert [r.text for r in world.fake.replies_to(comment)] == [
        "Halo @siswa555! Link pendaftaran ada di bio ya. Semangat lombanya!"
    ]
    (run,) = world.runs(tags=[{"key": "ig/account", "value": "ig_002"}])
    assert run["jobName"] == "ig_reply_job" and run["tags"]["dagster/sensor_name"] == (
        "ig_reply_sensor"
    )
    # an account without work saw only the sensor: one login (session stored), then cheap
    # reads of the activity feed and the DM inbox, never the feed or comment pages
    paths = Counter(c.path for c in world.fake.calls
                    if c.headers.get("ig-u-ds-user-id") == uid("ig_001"))
    assert paths.pop("/api/v1/users/1001/info/") == 1
    assert set(paths) <= {"/api/v1/news/inbox/", "/api/v1/direct_v2/inbox/"}


def test_ten_attempts_are_ten_profile_requests_with_run_retries_on(world):
    """The catalog's IG profile run waits out refusals itself (10 attempts); the instance's
    run retries must not run it again on top."""
    from dagster import MultiPartitionKey

    from lomba_pipeline.catalog.ingestion.automation import ig_run_tags

    world.fake.inject("please_wait", 1000, path="/usernameinfo/")
    profile = "infolomba.indonesia.id"
    key = MultiPartitionKey({"window": "2026-11-20-06:00", "profile": profile})
    tags = {
        **ig_run_tags(profile),  # what catalog_ig_schedule puts on the run
        "dagster/partition": str(key),
        "dagster/partition/window": "2026-11-20-06:00",
        "dagster/partition/profile": profile,
    }
    # the launchpad's resource config replaces the wired one as a whole: the same values, only
    # the 5 minutes between attempts shortened (max_attempts keeps its production default)
    from lomba_pipeline.secrets_box import encryption_key_from_settings
    from lomba_pipeline.settings import get_settings

    key = encryption_key_from_settings(get_settings())
    instagram = {
        "encryption": {"key_file": key.key_file} if key.key_file
        else {"key": {"env": "LOMBA_ENCRYPTION_KEY"}},
        "scraper_username": "scraper",
        "scraper_sessionid": {"env": "LOMBA_IG_SCRAPER_SESSIONID"},
        "api_base_url": world.fake.url,
        "request_delay_seconds": 0,
        "throttle_wait_seconds": 0.05,
    }
    run_id = world.launch(
        "ig_profile_job", tags, {"resources": {"instagram": {"config": instagram}}}
    )
    assert world.finished(run_id)["status"] == "FAILURE"
    assert any("10 attempts" in m for m in world.messages(run_id))
    wait_until(
        lambda: any(m.startswith("Not retrying run") for m in world.messages(run_id)),
        60, "the run-retry daemon's decision",
    )
    assert world.run(run_id)["tags"].get("dagster/will_retry") == "false"
    assert world.runs(tags=[{"key": "dagster/parent_run_id", "value": run_id}]) == []
    assert len(world.fake.calls_to("/usernameinfo/")) == 10


def test_a_post_missed_during_cooldown_is_made_up_once_the_same_day(world):
    # ig_001 cools down for 10 s (as after failures); its morning post run meets the pause
    world.sql("UPDATE ig_accounts SET cooldown_until = now() + interval '10 seconds'"
              " WHERE account_id = 'ig_001'")
    skipped = world.launch("ig_post_job", {"dagster/partition": "ig_001",
                                           "ig/account": "ig_001"})
    assert world.finished(skipped)["status"] == "SUCCESS"
    assert world.fake.posts_of(uid("ig_001")) == []
    (day,) = world.sql("SELECT data->>'day' FROM events WHERE kind = 'ig.post_skipped'")[0]
    # the sensor makes it up once the pause is over
    wait_until(lambda: world.fake.posts_of(uid("ig_001")), 150, "the made-up post")
    (makeup,) = world.runs(tags=[{"key": "dagster/sensor_name", "value": "ig_reply_sensor"}],
                           pipelineName="ig_post_job")
    assert makeup["tags"]["dagster/run_key"] == f"post-makeup:ig_001:{day}"
    done = world.finished(makeup["runId"])
    # a later tick launches nothing more for it: one post that day
    wait_until(lambda: world.sensor_ticks()[0]["timestamp"] > done["endTime"], 60,
               "a sensor tick after the made-up post")
    assert len(world.fake.posts_of(uid("ig_001"))) == 1
    assert len(world.runs(pipelineName="ig_post_job")) == 2


def test_a_spec_rollback_moves_the_post_time_the_schedule_shows(world, tmp_path):
    def next_post(account):
        schedule = world.schedule(f"ig_morning_post_{account}_schedule")
        (tick,) = schedule["futureTicks"]["results"]
        at = datetime.fromtimestamp(tick["timestamp"], WIB)
        return schedule["cronSchedule"], at.strftime("%H:%M"), schedule["description"]

    assert next_post("ig_003")[:2] == ("4 8 * * *", "08:04")
    later = tmp_path / "later.yaml"
    later.write_text(spec_for_tests(SPEC_FILE.read_text().replace("post_hour: 8", "post_hour: 10")))
    applied = world.lomba("spec", "apply", str(later))
    assert applied.returncode == 0, applied.stderr
    assert "10:00 (ig_001)" in applied.stdout and "reloaded" in applied.stdout
    cron, at, description = next_post("ig_003")
    assert (cron, at) == ("4 10 * * *", "10:04") and "spec v2" in description

    rolled = world.lomba("spec", "rollback", "1")
    assert rolled.returncode == 0, rolled.stderr
    assert "08:00 (ig_001)" in rolled.stdout and "reloaded" in rolled.stdout
    cron, at, description = next_post("ig_003")
    assert (cron, at) == ("4 8 * * *", "08:04") and "spec v1" in description
