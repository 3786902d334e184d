"""instagrapi built by the project talks to a local fake Instagram and keeps sessions in Postgres."""

import pytest

from lomba_pipeline.resources.instagram_client import (
    ClientOptions,
    Credentials,
    InstagramNotConfigured,
    InstagramSessions,
)
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline_tests.fakes.http_fake import HttpFake, route

SESSIONID = "77%3AAbCdEfGhIjKlMnOpQrStUv%3A12%3AAYfake"


class MiniInstagram(HttpFake):
    @route("GET", r"/api/v1/users/(\d+)/info/")
    def user_info(self, call, user_id):
        return 200, {
            "user": {
                "pk": int(user_id),
                "username": "scraper",
                "full_name": "S",
                "is_private": False,
                "profile_pic_url": "https://x.test/p.jpg",
                "media_count": 3,
                "follower_count": 1,
                "following_count": 1,
                "is_verified": False,
                "is_business": False,
            },
            "status": "ok",
        }

    @route("GET", r"/api/v1/feed/user/(\d+)/")
    def feed(self, call, user_id):
        return 200, {"items": [], "more_available": False, "status": "ok"}


@pytest.fixture
def sessions(postgres, settings):
    def make(base_url):
        return InstagramSessions(
            postgres,
            secret_box_from_settings(settings),
            ClientOptions(api_base_url=base_url, request_delay_seconds=0, delay_range=None),
        )

    return make


def test_stored_session_is_reused_without_login(sessions, postgres):
    with MiniInstagram() as fake:
        store = sessions(fake.url)
        client = store.login("scraper", Credentials(sessionid=SESSIONID))
        assert fake.calls_to("/users/77/info/")
        assert client.user_id == 77
        fake.calls.clear()
        again = store.client_for("scraper")
        assert again.user_id == client.user_id
        again.user_medias_v1(77, amount=1)
        assert fake.calls_to("/feed/user/77/")
        assert not fake.calls_to("/info/")
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT username, last_login_at IS NOT NULL AS logged, encrypted_settings"
            " FROM ig_sessions"
        )
        row = cur.fetchone()
    assert (row["username"], row["logged"]) == ("scraper", True)
    assert SESSIONID.encode() not in bytes(row["encrypted_settings"])


def test_missing_session_without_password_is_a_clear_error(sessions):
    with pytest.raises(InstagramNotConfigured, match="'nobody'"):
        sessions("http://127.0.0.1:9").client_for("nobody")
