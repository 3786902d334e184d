"""A simulated day of the 10 operated accounts with a controllable clock, through the real
sensor, schedules and jobs against the fake Instagram."""

import functools
from datetime import timedelta

import dagster as dg
import pytest

from lomba_pipeline.definitions import build_definitions
from lomba_pipeline.ig_ops.automation import SENSOR_TICK_SECONDS, ig_reply_sensor
from lomba_pipeline.ig_ops.lanes import current_spec
from lomba_pipeline.ig_ops.report_asset import all_accounts_posted, ig_report_job, nightly_ig_report
from lomba_pipeline.ig_ops.report_numbers import summary_text
from lomba_pipeline.ig_ops.store import cooldown_status, decide_approval, list_pending_approvals
from lomba_pipeline.partitions import OPERATED_ACCOUNTS
from lomba_pipeline_tests.ig_ops.world import SPEC_FILE, WIB, build_world, uid, wib

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    spec = SPEC_FILE.read_text().replace("cooldown_minutes: 15", "cooldown_minutes: 120")
    return build_world(
        fake,
        postgres,
        local_store,
        tmp_path,
        monkeypatch,
        settings,
        new_accounts=("ig_010",),
        spec_text=spec,
    )


def sensor_tick(world, now) -> list[str]:
    """Evaluate the real sensor at ``now`` (its cursor kept from the previous tick, as the
    daemon keeps it) and run what it asks for (reply runs, and posts made up after a
    cooldown); returns the accounts that got a reply run."""
    with dg.DagsterInstance.ephemeral() as instance:
        ctx = dg.build_sensor_context(
            resources=world.resources(now), instance=instance, repository_def=code_location(),
            cursor=world.sensor_cursor,
        )
        data = ig_reply_sensor.evaluate_tick(ctx)
    world.sensor_cursor = data.cursor
    accounts = []
    for request in data.run_requests:
        account = request.tags["ig/account"]
        if request.job_name == "ig_post_job":
            assert world.run_post(account, now).success
        else:
            world.run_requested(request, now)
            accounts.append(account)
    return accounts


def sensor_ticks(world, start) -> list[str]:
    """Ticks from ``start`` over one DM-read interval: every account's reads of both kinds.
    The accounts that got a reply run, sorted; none twice."""
    ran = []
    watch = current_spec(world.postgres)[1].watch
    for n in range(int(watch.seconds_between_dm_reads / SENSOR_TICK_SECONDS) + 1):
        ran += sensor_tick(world, start + timedelta(seconds=n * SENSOR_TICK_SECONDS))
    assert len(ran) == len(set(ran)), ran
    return sorted(ran)


@functools.cache
def code_location():
    return build_definitions().get_repository_def()


def test_a_day_of_ten_accounts(world, fake, test_environment):
    repo = code_location()

    # 07:00 comments and DMs arrive; ig_007's Instagram is failing
    world.comment("ig_001", "Kak, link daftarnya di mana?")
    world.comment("ig_001", "Mantap infonya", who="budi", who_pk=777)
    world.comment("ig_002", "Ini gratis kak?")
    world.comment("ig_005", "Deadline kapan min?")
    world.dm("ig_003", "Halo kak, mau ajak kerja sama endorse")
    world.dm("ig_004", "Kami tawarkan paid promote ya")
    world.dm("ig_006", "Info lomba desain dong")
    world.dm("ig_007", "Info lomba dong kak")
    fake.set_down(uid("ig_007"), 500)

    # the sensor reads one thing per account and tick: the activity feed, and within three
    # minutes the DM inbox; each account with work gets one run
    ran = sensor_ticks(world, wib("2026-11-20 07:00"))
    assert ran == ["ig_001", "ig_002", "ig_003", "ig_004", "ig_005", "ig_006", "ig_007"]
    with world.postgres.connection() as conn:
        cooling = {
            r["account_id"]: r["cooldown_until"]
            for r in cooldown_status(conn, wib("2026-11-20 07:01"))
        }
    assert cooling["ig_007"].astimezone(WIB) == wib("2026-11-20 09:00")
    assert [a for a, until in cooling.items() if until] == ["ig_007"]
    assert world.sql("SELECT count(*) FROM events WHERE kind = 'ig.cooldown_started'") == [(1,)]

    # 08:00 ... 08:18: the real schedules, each tick at its own time
    for index, account in enumerate(OPERATED_ACCOUNTS):
        tick = wib(f"2026-11-20 08:{2 * index:02d}")
        schedule = repo.get_schedule_def(f"ig_morning_post_{account}_schedule")
        (request,) = schedule.evaluate_tick(
            dg.build_schedule_context(
                scheduled_execution_time=tick,
                repository_def=repo,
                resources={"postgres": world.postgres},
            )
        ).run_requests
        assert request.run_key == f"post:{account}:2026-11-20"
        assert world.run_post(request.partition_key, tick).success
    posted = world.sql(
        "SELECT account_id, done_at FROM ig_actions WHERE kind = 'post' AND status = 'done'"
        " ORDER BY done_at"
    )
    expected = [a for a in OPERATED_ACCOUNTS if a not in ("ig_007", "ig_010")]
    assert [a for a, _ in posted] == expected
    assert [t.astimezone(WIB).strftime("%H:%M") for _, t in posted] == [
        f"08:{2 * OPERATED_ACCOUNTS.index(a):02d}" for a in expected
    ]
    published = [m.owner_pk for m in fake.media.values() if m.via != "seed"]
    assert published == [uid(a) for a in expected]  # Instagram saw them in that order

    # 08:30 a person decides: the sensitive DM of ig_003 and ig_010's first post approved,
    # ig_004's DM rejected
    with world.postgres.connection() as conn:
        pending = {(p["account_id"], p["reason"]): p["id"] for p in list_pending_approvals(conn)}
        assert set(pending) == {
            ("ig_003", "dm_sensitive_word"),
            ("ig_004", "dm_sensitive_word"),
            ("ig_010", "first_post"),
        }
        decide_approval(conn, pending[("ig_003", "dm_sensitive_word")], True, "admin")
        decide_approval(conn, pending[("ig_010", "first_post")], True, "admin")
        decide_approval(conn, pending[("ig_004", "dm_sensitive_word")], False, "admin")
    assert sorted(sensor_tick(world, wib("2026-11-20 08:31"))) == ["ig_003", "ig_010"]
    assert len(fake.posts_of(uid("ig_010"))) == 1
    ig_004_thread = next(t for t in fake.threads.values() if t.owner_pk == uid("ig_004"))
    assert fake.sent_in(ig_004_thread.thread_id) == []
    # nothing new: the sensor skips
    assert sensor_tick(world, wib("2026-11-20 08:45")) == []

    # 12:00 ig_007 recovers; more comments, one of them the account's own
    fake.set_down(uid("ig_007"), None)
    world.comment("ig_001", "Batas daftarnya tanggal berapa?", who="citra", who_pk=778)
    world.comment("ig_009", "Boleh SMA ikut?")
    fake.add_comment(world.media["ig_008"], uid("ig_008"), "op.ig_008", "Yuk daftar sekarang!")
    # ig_008's own comment is no work: Instagram does not notify an account of its own comment
    assert sensor_ticks(world, wib("2026-11-20 12:00")) == ["ig_001", "ig_007", "ig_009"]
    # ig_007's cooldown has ended: the morning post it missed is made up, once
    assert len(fake.posts_of(uid("ig_007"))) == 1
    assert world.sql(
        "SELECT count(*) FROM ig_actions WHERE account_id = 'ig_008' AND kind <> 'post'"
    ) == [(0,)]
    assert sensor_ticks(world, wib("2026-11-20 12:05")) == []

    # 21:00 the report
    tick = wib("2026-11-20 21:00")
    schedule = repo.get_schedule_def("ig_nightly_report_schedule")
    (request,) = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick, repository_def=repo)
    ).run_requests
    report_defs = dg.Definitions(
        assets=[nightly_ig_report],
        asset_checks=[all_accounts_posted],
        jobs=[ig_report_job],
        resources=world.resources(tick),
    )
    result = report_defs.resolve_job_def("ig_report_job").execute_in_process(
        partition_key=request.partition_key
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("nightly_ig_report")
    meta = mat.metadata
    rows = {r.data["account"]: r.data for r in meta["table"].records}
    numbers = {a: (r["posts"], r["replies"], r["dms"], r["failures"]) for a, r in rows.items()}
    assert numbers == {
        "ig_001": (1, 3, 0, 0),
        "ig_002": (1, 1, 0, 0),
        "ig_003": (1, 0, 1, 0),
        "ig_004": (1, 0, 0, 0),
        "ig_005": (1, 1, 0, 0),
        "ig_006": (1, 0, 1, 0),
        "ig_007": (1, 0, 1, 3),
        "ig_008": (1, 0, 0, 0),
        "ig_009": (1, 1, 0, 0),
        "ig_010": (1, 0, 0, 0),
    }
    assert meta["posts"].value == 10 and meta["replies"].value == 6 and meta["dms"].value == 3
    assert "| ig_007 | 1 | 0 | 1 |" in meta["summary"].value.replace("  ", " ")
    assert len(meta["errors"].value) == 3 and "ig_007" in meta["errors"].value[0]["account"]
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["missing"].value == []
    with world.postgres.connection() as conn:
        text = summary_text(conn, tick.date(), tick)
    assert "Belum posting hari ini" not in text
    assert "Jeda hari ini: ig_007 1x (120 mnt)" in text
    assert meta["whatsapp_text"].value == text
    assert "Total: 10 post, 6 balasan komentar, 3 balasan DM, 3 gagal." in text
    # nothing was ever sent twice
    assert all(len(fake.replies_to(c.pk)) <= 1 for m in fake.media.values() for c in m.comments)


def test_nightly_report_goes_to_the_admin_whatsapp_group_once(world):
    """The 21:00 summary reaches the admin group; a re-run of the same day sends nothing more."""
    from lomba_pipeline.resources.whatsapp import WhatsAppGateway
    from lomba_pipeline_tests.fakes.waha import FakeWaha

    admin_group = "120363000000000001@g.us"
    world.admin_group = admin_group
    tick = wib("2026-11-20 21:00")
    with FakeWaha(api_key="waha-key") as waha:
        world.whatsapp = WhatsAppGateway(base_url=waha.url, api_key="waha-key")
        report_defs = dg.Definitions(
            assets=[nightly_ig_report], jobs=[ig_report_job], resources=world.resources(tick)
        )
        job = report_defs.resolve_job_def("ig_report_job")
        first = job.execute_in_process(partition_key="2026-11-20")
        again = job.execute_in_process(partition_key="2026-11-20")
        sent = waha.calls_to("/api/sendText")
    assert first.success and again.success
    assert len(sent) == 1
    body = sent[0].json()
    assert body["chatId"] == admin_group
    (mat,) = first.asset_materializations_for_node("nightly_ig_report")
    assert body["text"] == mat.metadata["whatsapp_text"].value
    assert mat.metadata["whatsapp_delivery"].value == "sent"
    (mat_again,) = again.asset_materializations_for_node("nightly_ig_report")
    assert mat_again.metadata["whatsapp_delivery"].value == "already sent"
