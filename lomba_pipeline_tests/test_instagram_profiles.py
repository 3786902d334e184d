"""Profile reading through the real instagrapi against the local fake Instagram."""

from datetime import timedelta

import dagster as dg
import pytest

from lomba_pipeline.catalog.ingestion.service import ingest_ig_profile, window_for_key
from lomba_pipeline.resources.instagram import (
    EmptyFeedFromActiveProfile,
    InstagramUnavailable,
    InstagrapiProfileReader,
    ThrottlePolicy,
)
from lomba_pipeline.resources.instagram_client import ClientOptions, Credentials, InstagramSessions
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline_tests.fakes.fake_instagram import FakeInstagram, FakePost

WINDOW = window_for_key("2026-11-03-06:00")
SESSIONID = "77%3AFakeSessionForTests%3A12%3AAYfake"


def posts_around_window():
    at = WINDOW.start
    return [
        FakePost(3_800_000_000_000_000_001, "Lomba A (dalam jendela)", at + timedelta(hours=1)),
        FakePost(3_800_000_000_000_000_002, "Lomba B (dalam jendela)", at + timedelta(hours=5)),
        FakePost(3_800_000_000_000_000_003, "sesudah jendela", WINDOW.end + timedelta(minutes=5)),
        FakePost(3_800_000_000_000_000_004, "sebelum jendela", at - timedelta(hours=2)),
        FakePost(3_800_000_000_000_000_005, "jauh sebelum", at - timedelta(days=4)),
    ]


@pytest.fixture
def fake_ig():
    with FakeInstagram(page_size=2) as fake:
        yield fake


@pytest.fixture
def gateway(postgres, settings, fake_ig):
    waits = []

    def make(max_attempts=10):
        sessions = InstagramSessions(
            postgres,
            secret_box_from_settings(settings),
            ClientOptions(api_base_url=fake_ig.url, request_delay_seconds=0, delay_range=None),
        )
        policy = ThrottlePolicy(wait_seconds=300, max_attempts=max_attempts, sleep=waits.append)
        gw = InstagrapiProfileReader(sessions, "scraper", Credentials(sessionid=SESSIONID), policy)
        gw.waits = waits
        return gw

    return make


def test_posts_inside_the_window_are_read_across_pages_and_stored(postgres, fake_ig, gateway):
    fake_ig.add_profile("info.lomba", posts_around_window())
    lines = []
    report = ingest_ig_profile(postgres, gateway(), "info.lomba", WINDOW, lines.append)
    assert (report.found, report.new) == (2, 2)
    # paged: 2 per page; stops after the page holding posts older than the window
    assert len(fake_ig.calls_to("/feed/user/")) == 2
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT canonical_url, source_kind, source_name, caption, image_url, posted_at"
            " FROM raw_items ORDER BY posted_at"
        )
        rows = cur.fetchall()
    assert [r["caption"] for r in rows] == ["Lomba A (dalam jendela)", "Lomba B (dalam jendela)"]
    first = posts_around_window()[0]
    assert rows[0]["canonical_url"] == f"https://www.instagram.com/p/{first.shortcode}/"
    assert rows[0]["source_kind"] == "ig" and rows[0]["source_name"] == "info.lomba"
    assert rows[0]["image_url"] == fake_ig.image_url(first)
    assert rows[0]["posted_at"] == first.taken_at
    assert all(line.startswith("[IG] info.lomba:") and "DB insert" in line for line in lines)


@pytest.mark.parametrize("kind", ["401", "please_wait", "rate_limit", "throttled"])
def test_refusals_are_waited_out_and_the_fourth_attempt_succeeds(fake_ig, gateway, kind):
    fake_ig.add_profile("info.lomba", posts_around_window())
    fake_ig.refuse_feed(times=3, kind=kind)
    gw = gateway()
    posts = gw.recent_posts("info.lomba", WINDOW.start, WINDOW.end)
    assert [p.caption for p in posts] == ["Lomba B (dalam jendela)", "Lomba A (dalam jendela)"]
    assert gw.waits == [300, 300, 300]  # three 5-minute waits, injected
    assert len(fake_ig.calls_to("/usernameinfo/")) == 4


def test_ten_refusals_end_in_a_clear_failure(fake_ig, gateway):
    fake_ig.add_profile("info.lomba", posts_around_window())
    fake_ig.refuse_feed(times=10, kind="401")
    gw = gateway()
    with pytest.raises(InstagramUnavailable) as failure:
        gw.recent_posts("info.lomba", WINDOW.start, WINDOW.end)
    message = str(failure.value)
    assert "@info.lomba" in message and "10 attempts" in message
    assert "ClientUnauthorizedError" in message
    assert gw.waits == [300] * 9
    assert len(fake_ig.calls_to("/feed/user/")) == 10


def test_an_empty_feed_from_an_active_profile_is_a_failure_not_nothing_new(fake_ig, gateway):
    fake_ig.add_profile("info.lomba", posts_around_window())
    fake_ig.empty_feed(times=50)  # instagrapi's user_medias would have returned [] here
    with pytest.raises(InstagramUnavailable) as failure:
        gateway(max_attempts=3).recent_posts("info.lomba", WINDOW.start, WINDOW.end)
    assert EmptyFeedFromActiveProfile.__name__ in str(failure.value)
    assert "has posts but its feed came back empty" in str(failure.value)


def test_a_lost_session_is_refreshed_with_a_new_login_and_stored(postgres, fake_ig, gateway):
    fake_ig.add_profile("info.lomba", posts_around_window())
    fake_ig.fail_next(
        "/feed/user/", status=403, body={"message": "login_required", "status": "fail"}
    )
    gw = gateway()
    assert len(gw.recent_posts("info.lomba", WINDOW.start, WINDOW.end)) == 2
    assert len(fake_ig.calls_to("/users/77/info/")) == 2  # first login, then the relogin
    assert gw.waits == []
    with postgres.cursor() as cur:
        cur.execute("SELECT username, last_login_at IS NOT NULL AS ok FROM ig_sessions")
        assert [dict(r) for r in cur.fetchall()] == [{"username": "scraper", "ok": True}]


def test_a_profile_with_no_posts_at_all_is_not_a_failure(fake_ig, gateway):
    fake_ig.add_profile("akun.baru", [])
    assert gateway().recent_posts("akun.baru", WINDOW.start, WINDOW.end) == []


def test_the_asset_fails_the_partition_with_an_event_after_ten_refusals(
    postgres, fake_ig, tmp_path, encryption_key
):
    from lomba_pipeline.catalog.ingestion.assets import CatalogSources, build_ig_profile_posts
    from lomba_pipeline.resources.instagram import InstagramReader

    profile = "info.lomba.terbaru"
    ig_profile_posts = build_ig_profile_posts([profile])
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"instagram:\n  profiles: [{profile}]\n")
    fake_ig.add_profile(profile, posts_around_window())
    fake_ig.refuse_feed(times=10, kind="please_wait")
    reader = InstagramReader(
        scraper_username="scraper",
        scraper_sessionid=SESSIONID,
        api_base_url=fake_ig.url,
        request_delay_seconds=0,
        throttle_wait_seconds=0.001,
        encryption=encryption_key,
    )
    key = dg.MultiPartitionKey({"window": WINDOW.key, "profile": profile})
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [ig_profile_posts],
            partition_key=key,
            instance=instance,
            resources={
                "postgres": postgres,
                "instagram": reader,
                "catalog_sources": CatalogSources(path=str(sources)),
            },
            raise_on_error=False,
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "10 attempts" in failure.step_failure_data.error.message
        # a Failure with allow_retries=False: the op RetryPolicy does not hammer Instagram again
        assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT kind, subject, data FROM events WHERE kind = 'ingest.ig_profile_failed'"
        )
        event = cur.fetchone()
    assert event["subject"] == f"ig_profile:{profile}"
    assert event["data"]["window"] == WINDOW.key and "10 attempts" in event["data"]["error"]
