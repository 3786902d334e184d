"""The reply sensor pays little to notice work: one cheap Instagram read per account per tick at
most, within the spec's checks per hour, each kind of read evenly spaced, no run when nothing is
new, and the run reads only what the sensor saw (frozen clock moved by the test, ticks every
SENSOR_TICK_SECONDS as the daemon makes them)."""

from collections import Counter
from datetime import timedelta

import dagster as dg
import pytest

from lomba_pipeline.ig_ops.automation import SENSOR_TICK_SECONDS, ig_reply_sensor
from lomba_pipeline.ig_ops.lanes import current_spec
from lomba_pipeline_tests.ig_ops.world import SPEC_FILE, build_world, uid, wib

pytestmark = pytest.mark.timeout(300)

ACCOUNTS = ["ig_001", "ig_002", "ig_003"]
ACCOUNT_OF_UID = {uid(a): a for a in ACCOUNTS}
READS = {"/api/v1/news/inbox/": "feed", "/api/v1/direct_v2/inbox/": "dms"}


@pytest.fixture
def world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    return build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings, accounts=ACCOUNTS
    )


class Ticks:
    """The real sensor evaluated tick after tick, its cursor kept as the daemon keeps it."""

    def __init__(self, world, instance):
        self.world, self.instance, self.cursor = world, instance, None

    def __call__(self, now) -> list[dg.RunRequest]:
        data = ig_reply_sensor.evaluate_tick(
            dg.build_sensor_context(
                resources=self.world.resources(now), instance=self.instance, cursor=self.cursor
            )
        )
        self.cursor = data.cursor
        return list(data.run_requests or [])


def calls_by_account(fake) -> Counter:
    return Counter(c.headers.get("ig-u-ds-user-id") for c in fake.calls)


def test_an_idle_hour_launches_no_run_and_reads_within_the_budget(world, fake):
    world.comment("ig_001", "Link daftarnya mana kak?")
    world.dm("ig_002", "Info lomba dong")
    start = wib("2026-11-20 10:00")
    with dg.DagsterInstance.ephemeral() as instance:
        tick = Ticks(world, instance)
        # the work that is there gets its runs (a feed read, then a DM read at the next tick)
        for n in range(6):
            now = start + timedelta(seconds=n * SENSOR_TICK_SECONDS)
            for request in tick(now):
                assert world.run_requested(request, now).success
        assert world.sql("SELECT count(*) FROM ig_actions WHERE status = 'done'") == [(2,)]

        # then an hour with nothing new, ticking on
        idle_start = start + timedelta(seconds=6 * SENSOR_TICK_SECONDS)
        before = calls_by_account(fake)
        ticks = int(3600 / SENSOR_TICK_SECONDS)
        per_tick_max = Counter()
        read_at = {(a, kind): [] for a in ACCOUNTS for kind in READS.values()}
        for n in range(ticks):
            now = idle_start + timedelta(seconds=n * SENSOR_TICK_SECONDS)
            seen = len(fake.calls)
            assert tick(now) == []
            paid = Counter()
            for call in fake.calls[seen:]:
                account = ACCOUNT_OF_UID[call.headers.get("ig-u-ds-user-id")]
                paid[account] += 1
                read_at[account, READS[call.path]].append(now)
            for account in ACCOUNTS:
                per_tick_max[account] = max(per_tick_max[account], paid[account])
        after = calls_by_account(fake)

        _version, spec = current_spec(world.postgres)
        hourly = {a: after[uid(a)] - before[uid(a)] for a in ACCOUNTS}
        assert max(per_tick_max.values()) == 1
        assert hourly == dict.fromkeys(ACCOUNTS, spec.watch.checks_per_account_per_hour)
        reads = Counter(c.path for c in fake.calls[len(fake.calls) - sum(hourly.values()):])
        assert set(reads) == set(READS)
        assert reads["/api/v1/direct_v2/inbox/"] == sum(hourly.values()) // spec.watch.dm_inbox_every
        # each kind on its own timetable: a comment never waits two slots for the feed
        every = {"feed": spec.watch.seconds_between_feed_reads,
                 "dms": spec.watch.seconds_between_dm_reads}
        for (account, kind), times in read_at.items():
            gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
            assert max(gaps) <= every[kind] + SENSOR_TICK_SECONDS, (account, kind, max(gaps))
        # the accounts are not all read in the same tick
        firsts = {read_at[a, "feed"][0] for a in ACCOUNTS}
        assert len(firsts) > 1

        # the reads are not blind: a new comment is noticed within one feed interval, a new DM
        # within one DM interval
        later = idle_start + timedelta(hours=1)
        world.comment("ig_003", "Biayanya berapa?", who="citra", who_pk=778)
        world.dm("ig_001", "Halo min, info lomba?", who="dodi", who_pk=779)
        noticed = {}
        for n in range(int(every["dms"] / SENSOR_TICK_SECONDS) + 1):
            now = later + timedelta(seconds=SENSOR_TICK_SECONDS * n)
            for r in tick(now):
                noticed.setdefault(r.tags["ig/account"], (now - later).total_seconds())
        assert sorted(noticed) == ["ig_001", "ig_003"]
        assert noticed["ig_003"] <= every["feed"] + SENSOR_TICK_SECONDS


def test_the_run_reads_only_what_the_sensor_saw(world, fake):
    """A comment the activity feed showed: the run reads that post's comments and replies (no
    media feed, no DM inbox); a DM: the run reads the inbox only. A mention of the account
    under someone else's post is no work for the lane."""
    start = wib("2026-11-20 10:00")
    stranger = fake.add_user(4242, "orang_lain")
    their_post = fake.add_media(stranger, "Lomba poster")
    fake.add_comment(their_post, 556, "siswa_b", "@op.ig_002 ikut yuk")
    comment = world.comment("ig_001", "Link daftarnya mana kak?")
    with dg.DagsterInstance.ephemeral() as instance:
        tick = Ticks(world, instance)
        (request,) = tick(start)  # the first tick reads every account's activity feed
        assert request.tags["ig/account"] == "ig_001"
        assert request.run_config["ops"]["plan_replies"]["config"] == {
            "comments_on": [world.media["ig_001"]], "dms": False}
        seen = len(fake.calls)
        assert world.run_requested(request, start).success
        assert [(c.method, c.path) for c in fake.calls[seen:]] == [
            ("GET", f"/api/v1/media/{world.media['ig_001']}/comments/"),
            ("POST", f"/api/v1/media/{world.media['ig_001']}_{uid('ig_001')}/comment/"),
        ]
        assert len(fake.replies_to(comment)) == 1
        assert len(fake.media[their_post].comments) == 1  # the mention only: no reply there

        world.dm("ig_002", "Info lomba dong")
        requests = []
        for n in range(1, 60):
            requests = tick(start + timedelta(seconds=n * SENSOR_TICK_SECONDS))
            if requests:
                break
        (request,) = requests
        assert request.tags["ig/account"] == "ig_002"
        assert request.run_config["ops"]["plan_replies"]["config"] == {
            "comments_on": [], "dms": True}
        seen = len(fake.calls)
        assert world.run_requested(request, start).success
        assert [c.path for c in fake.calls[seen:]][0] == "/api/v1/direct_v2/inbox/"
        assert not any("/comments/" in c.path or "/feed/user/" in c.path
                       for c in fake.calls[seen:])
        assert world.sql("SELECT count(*) FROM ig_actions WHERE kind = 'dm_reply'"
                         " AND status = 'done'") == [(1,)]


def test_a_failed_read_launches_the_run_that_records_it_and_the_pause_ends_with_a_look(
    world, fake
):
    """Throttled reads: the run records the failures (cooldown), the sensor reads nothing
    during the pause, and once it ends one run looks at what came meanwhile."""
    start = wib("2026-11-20 10:00")
    fake.set_down(uid("ig_001"), 429)
    world.comment("ig_001", "Link daftarnya mana kak?")
    with dg.DagsterInstance.ephemeral() as instance:
        tick = Ticks(world, instance)
        (request,) = tick(start)
        assert request.tags["ig/account"] == "ig_001"
        world.run_reply("ig_001", start)  # three failed calls: cooldown (15 min)
        fake.set_down(uid("ig_001"), None)
        calls = calls_by_account(fake)[uid("ig_001")]
        for minute in range(1, 15):
            assert tick(start + timedelta(minutes=minute)) == []
        assert calls_by_account(fake)[uid("ig_001")] == calls  # nothing read while paused
        (request,) = tick(start + timedelta(minutes=16))
        assert request.tags["ig/account"] == "ig_001"
        assert calls_by_account(fake)[uid("ig_001")] == calls  # the look is the run's
        assert world.run_reply("ig_001", start + timedelta(minutes=16)).success
        assert world.sql("SELECT count(*) FROM ig_actions WHERE status = 'done'") == [(1,)]


def test_comments_left_for_later_bring_runs_until_the_post_leaves_the_window(
    fake, postgres, local_store, tmp_path, monkeypatch, settings
):
    """A run that stops at its reply budget leaves the rest for the next run (the sensor sees
    it in Postgres, without a read); once the post is no longer among the recent media the lane
    looks at, the sensor stops launching runs for it."""
    spec = (SPEC_FILE.read_text().replace("max_replies_per_run: 50", "max_replies_per_run: 1")
            .replace("recent_media: 6", "recent_media: 1"))
    world = build_world(fake, postgres, local_store, tmp_path, monkeypatch, settings,
                        accounts=["ig_001"], spec_text=spec)
    old = [world.comment("ig_001", f"Link daftar {n}?", who=f"u{n}", who_pk=700 + n)
           for n in range(3)]
    start = wib("2026-11-20 10:00")
    with dg.DagsterInstance.ephemeral() as instance:
        tick = Ticks(world, instance)
        launched = []

        def ticks(n, since):
            for k in range(n):
                now = since + timedelta(seconds=k * SENSOR_TICK_SECONDS)
                for request in tick(now):
                    launched.append(now)
                    assert world.run_requested(request, now).success

        ticks(2, start)  # one reply per run: the first run leaves the rest, the next continues
        assert [len(fake.replies_to(c)) for c in old] == [1, 1, 0]
        new_post = fake.add_media(uid("ig_001"), "Postingan baru")  # the old one leaves the window
        fresh = fake.add_comment(new_post, 779, "dodi", "Masih buka?")
        ticks(4, start + timedelta(minutes=1))
        assert len(fake.replies_to(fresh)) == 1
        ticks(8, start + timedelta(minutes=2))
        assert not [t for t in launched if t >= start + timedelta(minutes=2)]
        assert fake.replies_to(old[2]) == []  # the lane looks at the recent media only


def test_a_notified_comment_on_an_older_post_is_answered(
    fake, postgres, local_store, tmp_path, monkeypatch, settings
):
    """The activity feed names the post: a comment under a post older than the spec's
    ``recent_media`` window is answered too (a full look would not reach it)."""
    spec = SPEC_FILE.read_text().replace("recent_media: 6", "recent_media: 1")
    world = build_world(fake, postgres, local_store, tmp_path, monkeypatch, settings,
                        accounts=["ig_001"], spec_text=spec)
    older = world.media["ig_001"]
    fake.add_media(uid("ig_001"), "Postingan baru")  # the seeded post leaves the window
    comment = world.comment("ig_001", "Kak, link daftarnya mana?")
    start = wib("2026-11-20 10:00")
    with dg.DagsterInstance.ephemeral() as instance:
        (request,) = Ticks(world, instance)(start)
        assert request.run_config["ops"]["plan_replies"]["config"]["comments_on"] == [older]
        assert world.run_requested(request, start).success
    assert len(fake.replies_to(comment)) == 1
