"""Lane A against the fake Instagram, through the real Dagster job."""

import pytest

from lomba_pipeline_tests.ig_ops.world import build_world, uid, wib

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    return build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings, accounts=["ig_001", "ig_002"]
    )


def test_replies_to_comments_and_dms_once_and_never_to_itself(world, fake):
    c1 = world.comment("ig_001", "Kak, link daftarnya mana?")
    c2 = world.comment("ig_001", "Keren banget", who="budi", who_pk=777)
    own = fake.add_comment(world.media["ig_001"], uid("ig_001"), "op.ig_001", "Jangan lupa daftar!")
    thread = world.dm("ig_001", "Halo min, mau tanya info lomba desain")

    result = world.run_reply("ig_001", wib("2026-11-20 09:00"))
    assert result.success

    assert [r.text for r in fake.replies_to(c1)] == [
        "Halo @siswa_a! Link pendaftaran ada di bio ya. Semangat lombanya!"
    ]
    assert [r.text for r in fake.replies_to(c2)] == [
        "Terima kasih @budi! Info lengkapnya cek link di bio ya."
    ]
    assert fake.replies_to(own) == []
    assert [i.text for i in fake.sent_in(thread)] == [
        "Halo kak @siswa_b! Info lomba terbaru selalu kami update di feed dan link di bio ya."
    ]
    # a second tick finds nothing new and sends nothing again
    again = world.run_reply("ig_001", wib("2026-11-20 09:01"))
    assert again.success
    assert len(fake.replies_to(c1)) == 1 and len(fake.sent_in(thread)) == 1
    assert world.sql("SELECT count(*) FROM ig_actions WHERE status = 'done'") == [(3,)]


def test_a_transient_instagram_error_is_retried_by_the_op_retry_policy(world, fake):
    comment = world.comment("ig_001", "Min, link daftar dong")
    fake.fail_next("/comment/", status=429, body={"message": "rate limited", "status": "fail"})
    result = world.run_reply("ig_001", wib("2026-11-20 09:00"))
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert [e.step_key for e in retries] == ["send_replies"]
    assert len(fake.replies_to(comment)) == 1
    assert world.sql("SELECT ok FROM ig_attempts WHERE action_id IS NOT NULL ORDER BY id") == [
        (False,),
        (True,),
    ]
    # one failure then a success: no cooldown
    assert world.sql(
        "SELECT consecutive_failures, cooldown_until FROM ig_accounts WHERE account_id = 'ig_001'"
    ) == [(0, None)]


def test_sensor_skips_without_accounts(postgres, encryption_key):
    import dagster as dg

    from lomba_pipeline.ig_ops.automation import ig_reply_sensor
    from lomba_pipeline.ig_ops.clock import IgClock
    from lomba_pipeline.resources.instagram_ops import InstagramOpsResource

    data = ig_reply_sensor.evaluate_tick(
        dg.build_sensor_context(
            resources={
                "postgres": postgres,
                "ig_ops": InstagramOpsResource(encryption=encryption_key),
                "ig_clock": IgClock(),
            }
        )
    )
    assert not data.run_requests and "no operated accounts" in data.skip_message
