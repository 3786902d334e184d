"""Spec changes are live for posting: the morning schedules' crons come from the active spec
version when the code location loads, each tick checks the active spec again, and a post no
loaded schedule will launch (the location not reloaded yet) is launched by the sensor, once."""

import dagster as dg
import pytest

from lomba_pipeline.definitions import build_definitions
from lomba_pipeline.ig_ops.automation import ig_reply_sensor
from lomba_pipeline.ig_ops.spec import apply_spec, parse_spec, rollback_spec
from lomba_pipeline_tests.ig_ops.world import build_world, spec_for_tests, uid, wib

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    # build_world applies the shipped spec (08:00 + 2 min per account) as version 1
    return build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings,
        accounts=["ig_001", "ig_002"],
    )


def apply_post_time(world, hour: int, minute: int) -> None:
    text = spec_for_tests().replace("post_hour: 8", f"post_hour: {hour}").replace(
        "post_minute: 0", f"post_minute: {minute}"
    )
    with world.postgres.connection() as conn:
        apply_spec(conn, parse_spec(text), actor="test")


def tick(schedule, repo, world, at):
    return schedule.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=at, repository_def=repo,
            resources={"postgres": world.postgres},
        )
    )


def post_requests(world, repo, now) -> list[dg.RunRequest]:
    with dg.DagsterInstance.ephemeral() as instance:
        data = ig_reply_sensor.evaluate_tick(
            dg.build_sensor_context(
                resources=world.resources(now), instance=instance, repository_def=repo
            )
        )
    return [r for r in data.run_requests or [] if r.job_name == "ig_post_job"]


def test_the_crons_the_ticks_and_the_sensor_follow_the_active_spec(world, fake, settings):
    loaded = build_definitions(settings).get_repository_def()
    old = loaded.get_schedule_def("ig_morning_post_ig_002_schedule")
    assert old.cron_schedule == "2 8 * * *" and "spec v1" in old.description

    apply_post_time(world, 9, 30)  # version 2: 09:30, ig_002 at 09:32
    # the loaded schedule still ticks at 08:02 but does not post at the old time
    skipped = tick(old, loaded, world, wib("2026-11-20 08:02"))
    assert not skipped.run_requests and "09:32 WIB" in skipped.skip_message
    # a reload shows the new times
    reloaded = build_definitions(settings).get_repository_def()
    new = reloaded.get_schedule_def("ig_morning_post_ig_002_schedule")
    assert new.cron_schedule == "32 9 * * *" and "spec v2" in new.description
    (request,) = tick(new, reloaded, world, wib("2026-11-20 09:32")).run_requests
    assert request.run_key == "post:ig_002:2026-11-20"

    # without a reload, the sensor launches the posts due under the active spec, once
    assert post_requests(world, loaded, wib("2026-11-20 09:29")) == []
    due = post_requests(world, loaded, wib("2026-11-20 09:31"))
    assert [(r.partition_key, r.run_key) for r in due] == [
        ("ig_001", "post-due:ig_001:2026-11-20")
    ]
    assert world.run_post("ig_001", wib("2026-11-20 09:31")).success
    assert len(fake.posts_of(uid("ig_001"))) == 1
    later = post_requests(world, loaded, wib("2026-11-20 09:33"))
    assert [r.partition_key for r in later] == ["ig_002"]  # ig_001 posted today already
    # with the reloaded location the schedules launch them: the sensor stays out
    assert post_requests(world, reloaded, wib("2026-11-20 09:33")) == []

    # a rollback to version 1 brings 08:00 back, for the ticks and for a reload
    with world.postgres.connection() as conn:
        rollback_spec(conn, 1, actor="test")
    assert tick(new, reloaded, world, wib("2026-11-21 09:32")).skip_message.count("08:02 WIB")
    back = build_definitions(settings).get_repository_def()
    assert back.get_schedule_def("ig_morning_post_ig_002_schedule").cron_schedule == "2 8 * * *"
    (request,) = tick(old, back, world, wib("2026-11-21 08:02")).run_requests
    assert request.run_key == "post:ig_002:2026-11-21"
