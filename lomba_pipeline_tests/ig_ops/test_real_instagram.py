"""The lanes against Instagram's real behaviour: paged comments, threaded replies, deleted
comments, throttling during crash recovery, expired sessions, challenges, blocks and budgets."""

import pytest

from lomba_pipeline.ig_ops.overview import accounts_overview
from lomba_pipeline.ig_ops.report_numbers import summary_text
from lomba_pipeline.ig_ops.store import list_pending_approvals
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline_tests.ig_ops.test_crash_safety import _crash_during
from lomba_pipeline_tests.ig_ops.world import build_world, spec_for_tests, uid, wib

pytestmark = pytest.mark.timeout(240)


def replies_per_comment(fake, comments) -> list[int]:
    return [len(fake.replies_to(c)) for c in comments]


def test_a_post_with_three_comment_pages_gets_every_comment_answered_once(world, fake):
    fake.comment_page_size = 5
    media = world.media["ig_001"]
    first = [world.comment("ig_001", f"Keren {i}", who=f"u{i}", who_pk=900 + i) for i in range(13)]
    assert world.run_reply("ig_001", wib("2026-11-20 09:00")).success
    assert replies_per_comment(fake, first) == [1] * 13
    assert len(fake.calls_to(f"/media/{media}/comments/", "GET")) == 3

    # someone deletes a comment (the count drops) while 12 new ones arrive: 3 more pages,
    # the oldest new one on page 3, and nothing is skipped or answered twice
    fake.delete_comment(first[3])
    later = [
        world.comment("ig_001", f"Mantap {i}", who=f"v{i}", who_pk=950 + i) for i in range(12)
    ]
    assert world.run_reply("ig_001", wib("2026-11-20 09:01")).success
    assert replies_per_comment(fake, later) == [1] * 12
    assert replies_per_comment(fake, first[:3] + first[4:]) == [1] * 12
    # paging stopped at the newest comment already handled: not every page again
    assert len(fake.calls_to(f"/media/{media}/comments/", "GET")) == 3 + 3

    # only our own threaded replies raised the count: the next tick reads no comments at all
    assert world.run_reply("ig_001", wib("2026-11-20 09:02")).success
    assert len(fake.calls_to(f"/media/{media}/comments/", "GET")) == 6
    assert world.sql("SELECT count(*) FROM ig_actions WHERE kind = 'comment_reply'") == [(25,)]


@pytest.mark.parametrize("refusal", ["429", "please_wait", "401"])
def test_crash_between_publish_and_record_while_throttled_asks_a_person(world, fake, refusal):
    fake.hang_after("/media/configure/")
    _crash_during(world, "post", wib("2026-11-20 08:00"), lambda: fake.posts_of(uid("ig_001")))
    assert world.sql("SELECT status FROM ig_actions WHERE kind = 'post'") == [("sending",)]

    # the own feed cannot be read: the outcome is unknown (401: even after a re-login)
    fake.inject(refusal, times=2, path="/feed/user/")
    assert world.run_post("ig_001", wib("2026-11-20 08:01")).success
    assert len(fake.calls_to("/media/configure/")) == 1  # never published again
    assert world.sql("SELECT status FROM ig_actions WHERE kind = 'post'") == [("unknown",)]
    with world.postgres.connection() as conn:
        (pending,) = list_pending_approvals(conn)
    assert (pending["reason"], pending["kind"]) == ("reconcile_unknown", "post")


def reimport_with_sessionid(world, monkeypatch, settings, sessionid: str) -> None:
    """The operator put a fresh session id in the account's env var and re-imported."""
    from lomba_pipeline.ig_ops.accounts import import_accounts

    monkeypatch.setenv("LOMBA_IG_TEST_IG_001_SESSIONID", sessionid)
    with world.postgres.connection() as conn:
        import_accounts(
            conn, secret_box_from_settings(settings), world.root / "accounts.yaml", actor="test"
        )


def test_an_expired_session_is_renewed_with_the_stored_credentials(
    world, fake, monkeypatch, settings
):
    first = world.comment("ig_001", "Link daftar dong")
    assert world.run_reply("ig_001", wib("2026-11-20 09:00")).success
    reimport_with_sessionid(world, monkeypatch, settings, f"{uid('ig_001')}%3ARenewedSessionFromBrowser%3A12%3AAYfresh")
    fake.expire_session(uid("ig_001"))  # the stored session is gone

    second = world.comment("ig_001", "Biaya daftarnya berapa?", who="budi", who_pk=777)
    result = world.run_reply("ig_001", wib("2026-11-20 09:05"))
    assert result.success
    assert replies_per_comment(fake, [first, second]) == [1, 1]
    assert len(world.events("ig.session_renewed")) >= 1
    assert world.sql("SELECT cooldown_until FROM ig_accounts") == [(None,)]
    # the renewed session was stored: the next run needs no second login
    logins = len(fake.calls_to(f"/users/{uid('ig_001')}/info/"))
    assert world.run_reply("ig_001", wib("2026-11-20 09:06")).success
    assert len(fake.calls_to(f"/users/{uid('ig_001')}/info/")) == logins


def test_a_session_that_cannot_be_renewed_cools_the_account_down_with_a_clear_message(
    world, fake
):
    world.comment("ig_001", "Link daftar dong")
    fake.add_media(uid("ig_001"))  # any call will do: the session is checked everywhere
    world.run_reply("ig_001", wib("2026-11-20 09:00"))
    fake.expire_session(uid("ig_001"))  # and the stored credentials hold the same session id
    late = world.comment("ig_001", "Halo?", who="budi", who_pk=777)

    result = world.run_reply("ig_001", wib("2026-11-20 09:05"))
    assert result.success  # paused, not a retry loop
    assert fake.replies_to(late) == []
    (cooldown,) = world.events("ig.cooldown_started")
    assert cooldown["why"] == "relogin_failed"
    assert "lomba accounts login ig_001" in cooldown["error"]
    ((until,),) = world.sql("SELECT cooldown_until FROM ig_accounts")
    assert until == wib("2026-11-20 09:20")  # the first step: 15 minutes


def test_a_challenge_stops_the_account_and_nothing_retries(world, fake):
    comment = world.comment("ig_001", "Link daftar dong")
    fake.inject("challenge_required", times=1, path="/media/")
    result = world.run_reply("ig_001", wib("2026-11-20 09:00"))
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []
    (stop,) = world.events("ig.account_stopped")
    assert stop["reason"] == "challenge_required" and "lomba accounts login ig_001" in stop["fix"]

    # the challenge is gone on Instagram's side, but a stopped account makes no call at all
    calls = len(fake.calls)
    assert world.run_reply("ig_001", wib("2026-11-20 12:00")).success
    assert len(fake.calls) == calls and fake.replies_to(comment) == []

    # the alert: the admin page's row and the nightly report
    with world.postgres.connection() as conn:
        (row,) = accounts_overview(conn, wib("2026-11-20 12:00"))
        text = summary_text(conn, wib("2026-11-20 21:00").date(), wib("2026-11-20 21:00"))
    assert row["stopped_reason"] == "challenge_required"
    assert "PERLU TINDAKAN: ig_001 dihentikan Instagram" in text
    assert "lomba accounts login ig_001" in text


def test_an_action_block_pauses_the_account_for_the_spec_block_time(world, fake):
    comment = world.comment("ig_001", "Link daftar dong")
    fake.inject("feedback_required", times=1, path="/comment/")
    assert world.run_reply("ig_001", wib("2026-11-20 09:00")).success
    assert fake.replies_to(comment) == []
    ((until,),) = world.sql("SELECT cooldown_until FROM ig_accounts")
    assert until == wib("2026-11-20 15:00")  # block_cooldown_minutes: 360
    assert world.run_reply("ig_001", wib("2026-11-20 14:59")).success
    assert fake.replies_to(comment) == []
    assert world.run_reply("ig_001", wib("2026-11-20 15:00")).success
    assert len(fake.replies_to(comment)) == 1


def test_cooldowns_in_a_row_escalate(world, fake):
    fake.set_down(uid("ig_001"), 500)
    lengths = []
    at = wib("2026-11-20 09:00")
    for _ in range(3):
        world.run_reply("ig_001", at)
        ((until,),) = world.sql("SELECT cooldown_until FROM ig_accounts")
        lengths.append(int((until - at).total_seconds() // 60))
        at = until
    assert lengths == [15, 60, 360]
    assert [e["minutes"] for e in world.events("ig.cooldown_started")] == [15, 60, 360]
    with world.postgres.connection() as conn:
        text = summary_text(conn, wib("2026-11-20 21:00").date(), wib("2026-11-20 21:00"))
    assert "Jeda hari ini: ig_001 3x (15 mnt/60 mnt/360 mnt)" in text


def test_budget_of_60_replies_an_hour_sends_200_comments_over_four_hours(
    fake, postgres, local_store, tmp_path, monkeypatch, settings
):
    spec = spec_for_tests().replace("max_replies_per_run: 50", "max_replies_per_run: 500")
    world = build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings,
        accounts=["ig_001"], spec_text=spec,
    )
    comments = [
        world.comment("ig_001", f"Keren {i}", who=f"u{i}", who_pk=5000 + i) for i in range(200)
    ]

    def sent():
        return sum(replies_per_comment(fake, comments))

    assert world.run_reply("ig_001", wib("2026-11-20 10:00")).success
    assert sent() == 60
    assert world.run_reply("ig_001", wib("2026-11-20 10:59")).success
    assert sent() == 60  # the hour's budget is spent: the rest waits
    assert world.sql("SELECT count(*) FROM ig_actions WHERE status = 'planned'") == [(140,)]
    for hour, total in ((11, 120), (12, 180), (13, 200)):
        assert world.run_reply("ig_001", wib(f"2026-11-20 {hour}:00")).success
        assert sent() == total
    assert set(replies_per_comment(fake, comments)) == {1}  # none twice, none lost


def sensor(world, now, instance):
    import dagster as dg

    from lomba_pipeline.definitions import build_definitions
    from lomba_pipeline.ig_ops.automation import ig_reply_sensor

    ctx = dg.build_sensor_context(
        resources=world.resources(now),
        instance=instance,
        repository_def=build_definitions().get_repository_def(),
    )
    return ig_reply_sensor.evaluate_tick(ctx)


def test_no_second_reply_run_while_one_is_queued_for_the_account(world, fake):
    import dagster as dg

    from lomba_pipeline.ig_ops.jobs import ACCOUNT_TAG, ig_reply_job

    world.comment("ig_001", "Link daftar dong")
    with dg.DagsterInstance.ephemeral() as instance:
        (request,) = sensor(world, wib("2026-11-20 09:00"), instance).run_requests
        assert request.tags[ACCOUNT_TAG] == "ig_001"
        queued = instance.create_run_for_job(
            ig_reply_job, tags={ACCOUNT_TAG: "ig_001"}, status=dg.DagsterRunStatus.NOT_STARTED
        )
        calls = len(fake.calls)
        later = sensor(world, wib("2026-11-20 09:01"), instance)
        assert later.run_requests == [] or later.run_requests is None
        assert len(fake.calls) == calls  # not even a check was paid
        instance.report_run_canceled(queued)
        (again,) = sensor(world, wib("2026-11-20 09:02"), instance).run_requests
        assert again.tags[ACCOUNT_TAG] == "ig_001"


def test_a_post_missed_during_cooldown_is_made_up_once_that_day(world, fake):
    import dagster as dg

    fake.set_down(uid("ig_001"), 500)
    for minute in ("07:00", "07:01", "07:02"):  # three failures: 15 minutes of cooldown
        world.run_reply("ig_001", wib(f"2026-11-20 {minute}"))
    fake.set_down(uid("ig_001"), None)
    assert world.run_post("ig_001", wib("2026-11-20 07:05")).success  # the 07:05 post is skipped
    assert fake.posts_of(uid("ig_001")) == []
    with dg.DagsterInstance.ephemeral() as instance:
        during = sensor(world, wib("2026-11-20 07:10"), instance)
        assert not [r for r in during.run_requests or [] if r.job_name == "ig_post_job"]
        after = sensor(world, wib("2026-11-20 07:20"), instance)
        (makeup,) = [r for r in after.run_requests if r.job_name == "ig_post_job"]
        assert (makeup.partition_key, makeup.run_key) == ("ig_001", "post-makeup:ig_001:2026-11-20")
        assert world.run_post("ig_001", wib("2026-11-20 07:20")).success
        assert len(fake.posts_of(uid("ig_001"))) == 1
        later = sensor(world, wib("2026-11-20 07:30"), instance)
        assert not [r for r in later.run_requests or [] if r.job_name == "ig_post_job"]
