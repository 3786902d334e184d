"""Lane B and C schedules: tick times and run keys in Asia/Jakarta."""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from lomba_pipeline.definitions import build_definitions
from lomba_pipeline.partitions import OPERATED_ACCOUNTS

WIB = ZoneInfo("Asia/Jakarta")


@pytest.fixture(scope="module")
def repo(test_environment):
    return build_definitions().get_repository_def()


@pytest.fixture
def imported(postgres, settings):
    """The shipped config/accounts.yaml, imported."""
    from lomba_pipeline.ig_ops.accounts import import_accounts
    from lomba_pipeline.secrets_box import secret_box_from_settings

    with postgres.connection() as conn:
        import_accounts(
            conn, secret_box_from_settings(settings), settings.config_dir / "accounts.yaml"
        )
    return postgres


def _ticks(schedule, start: datetime, n: int) -> list[datetime]:
    it = cron_string_iterator(
        start.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    return [next(it).astimezone(WIB) for _ in range(n)]


def test_one_schedule_per_account_at_0800_plus_two_minutes_in_jakarta(repo, imported):
    start = datetime(2026, 11, 20, 0, 0, tzinfo=WIB)
    seen = []
    for index, account in enumerate(OPERATED_ACCOUNTS):
        schedule = repo.get_schedule_def(f"ig_morning_post_{account}_schedule")
        assert schedule.execution_timezone == "Asia/Jakarta"
        first, second = _ticks(schedule, start, 2)
        assert (first.hour, first.minute) == (8, 2 * index)
        assert first.date().isoformat() == "2026-11-20"
        assert second - first == (second - first).__class__(days=1)
        ctx = dg.build_schedule_context(
            scheduled_execution_time=first, repository_def=repo, resources={"postgres": imported}
        )
        data = schedule.evaluate_tick(ctx)
        (request,) = data.run_requests
        assert request.run_key == f"post:{account}:2026-11-20"
        assert request.partition_key == account
        assert request.tags["ig/account"] == account
        seen.append(first.strftime("%H:%M"))
    assert seen == [f"08:{2 * i:02d}" for i in range(10)]


def test_run_key_uses_the_jakarta_date_not_utc(repo, imported):
    # 08:00 WIB is 01:00 UTC the same day; 00:30 WIB would be the previous UTC day
    schedule = repo.get_schedule_def("ig_morning_post_ig_001_schedule")
    utc_time = datetime(2026, 11, 20, 1, 0, tzinfo=ZoneInfo("UTC"))
    ctx = dg.build_schedule_context(
        scheduled_execution_time=utc_time, repository_def=repo, resources={"postgres": imported}
    )
    assert schedule.evaluate_tick(ctx).run_requests[0].run_key == "post:ig_001:2026-11-20"


def test_account_not_imported_skips_instead_of_failing_a_run(repo, postgres):
    schedule = repo.get_schedule_def("ig_morning_post_ig_004_schedule")
    ctx = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 20, 8, 6, tzinfo=WIB),
        repository_def=repo,
        resources={"postgres": postgres},
    )
    data = schedule.evaluate_tick(ctx)
    assert not data.run_requests and "not imported" in data.skip_message


def test_nightly_report_at_2100_for_that_days_partition(repo):
    schedule = repo.get_schedule_def("ig_nightly_report_schedule")
    (tick,) = _ticks(schedule, datetime(2026, 11, 20, 12, 0, tzinfo=WIB), 1)
    assert (tick.hour, tick.minute, tick.date().isoformat()) == (21, 0, "2026-11-20")
    ctx = dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo)
    (request,) = schedule.evaluate_tick(ctx).run_requests
    assert (request.partition_key, request.run_key) == ("2026-11-20", "ig_report:2026-11-20")
