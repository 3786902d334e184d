"""An operated account's credentials against the strict fake: a stored PASSWORD renews an
expired session through instagrapi's real login flow; a wrong one pauses the account and says
how to fix it. (Graph API token refresh and Graph-only accounts: further down.)"""

import pytest
import yaml

from lomba_pipeline.ig_ops.accounts import import_accounts
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline_tests.ig_ops.world import build_world, uid, wib

pytestmark = pytest.mark.timeout(240)


def store_credentials(world, monkeypatch, settings, **env_values) -> None:
    """The operator names env vars in accounts.yaml, sets them and re-imports."""
    data = yaml.safe_load((world.root / "accounts.yaml").read_text())
    names = {}
    for field, value in env_values.items():
        name = f"LOMBA_IG_T1_{field.upper()}"
        monkeypatch.setenv(name, value)
        names[f"{field}_env"] = name
    data["accounts"][0]["credentials"] = names
    (world.root / "accounts.yaml").write_text(yaml.safe_dump(data))
    with world.postgres.connection() as conn:
        # a fresh import replaces the stored credentials (no session id kept from before)
        conn.cursor().execute("UPDATE ig_accounts SET encrypted_credentials = NULL")
        import_accounts(conn, secret_box_from_settings(settings), world.root / "accounts.yaml")


def replies(fake, comments) -> list[int]:
    return [len(fake.replies_to(c)) for c in comments]


def test_a_stored_password_logs_in_again_when_the_session_expires_mid_run(
    world, fake, monkeypatch, settings
):
    fake.set_password("op.ig_001", "kata-sandi-benar")
    store_credentials(world, monkeypatch, settings, password="kata-sandi-benar")
    world.sql("DELETE FROM ig_sessions")  # only the password: the first run logs in with it
    first = world.comment("ig_001", "Link daftar dong")
    assert world.run_reply("ig_001", wib("2026-11-20 09:00")).success
    assert len(fake.logins("op.ig_001")) == 1
    assert replies(fake, [first]) == [1]

    # Instagram logs the account out after the feed was read, in the middle of the run
    second = world.comment("ig_001", "Biaya daftarnya berapa?", who="budi", who_pk=777)
    reads = len(fake.calls_to("/feed/user/"))
    original = fake.comments

    def expire_then_answer(call, media_pk):
        if len(fake.calls_to("/feed/user/")) > reads and not fake.revoked_sessions:
            fake.expire_session(uid("ig_001"))
            return 403, {"message": "login_required", "logout_reason": 2, "status": "fail"}
        return original(call, media_pk)

    fake._routes = [
        (m, p, expire_then_answer if h == original else h) for m, p, h in fake._routes
    ]
    result = world.run_reply("ig_001", wib("2026-11-20 09:05"))
    assert result.success
    assert replies(fake, [first, second]) == [1, 1]  # the run finished after the re-login
    assert len(fake.logins("op.ig_001")) == 2
    assert len(world.events("ig.session_renewed")) == 1
    assert world.sql("SELECT cooldown_until FROM ig_accounts") == [(None,)]
    # the new session was stored: the next run logs in no more
    assert world.run_reply("ig_001", wib("2026-11-20 09:06")).success
    assert len(fake.logins("op.ig_001")) == 2


def test_a_wrong_stored_password_pauses_the_account_and_names_the_fix(
    world, fake, monkeypatch, settings
):
    fake.set_password("op.ig_001", "kata-sandi-lama")
    store_credentials(world, monkeypatch, settings, password="kata-sandi-lama")
    world.sql("DELETE FROM ig_sessions")
    assert world.run_reply("ig_001", wib("2026-11-20 09:00")).success
    # the owner changed the password on Instagram, which also ends every session
    fake.set_password("op.ig_001", "kata-sandi-baru")
    fake.expire_session(uid("ig_001"))
    late = world.comment("ig_001", "Halo?", who="budi", who_pk=777)

    result = world.run_reply("ig_001", wib("2026-11-20 09:05"))
    assert result.success  # paused, not a retry loop
    assert fake.replies_to(late) == []
    (cooldown,) = world.events("ig.cooldown_started")
    assert cooldown["why"] == "relogin_failed"
    assert "ig_001" in cooldown["error"] and "BadPassword" in cooldown["error"]
    assert "lomba accounts login ig_001" in cooldown["error"]
    assert "kata-sandi" not in str(world.events("ig.cooldown_started"))
    ((until,),) = world.sql("SELECT cooldown_until FROM ig_accounts")
    assert until == wib("2026-11-20 09:20")
    # one re-login per run, not one per op or per retry
    tries = len(fake.logins("op.ig_001"))
    assert world.run_reply("ig_001", wib("2026-11-20 09:10")).success  # in cooldown
    assert len(fake.logins("op.ig_001")) == tries


def test_a_wrong_password_at_the_first_login_names_the_fix_too(
    world, fake, monkeypatch, settings
):
    fake.set_password("op.ig_001", "yang-benar")
    store_credentials(world, monkeypatch, settings, password="yang-salah")
    world.sql("DELETE FROM ig_sessions")
    world.comment("ig_001", "Halo?")
    assert world.run_reply("ig_001", wib("2026-11-20 09:00")).success
    (cooldown,) = world.events("ig.cooldown_started")
    assert cooldown["why"] == "relogin_failed"
    assert "lomba accounts login ig_001" in cooldown["error"]


# -- Graph API tokens and Graph-only accounts ---------------------------------------------------
@pytest.fixture
def graph_world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    """ig_001 with only a Graph API token in accounts.yaml: no session id, no password."""
    world = build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings,
        accounts=["ig_001"], posts_per_account=5,
    )
    token = fake.issue_graph_token(uid("ig_001"), wib("2026-10-01 08:00"))  # ends 2026-11-30
    store_credentials(world, monkeypatch, settings, graph_access_token=token,
                      graph_user_id=uid("ig_001"))
    world.graph_token = token
    return world


def post_on(world, fake, when: str):
    fake.graph_now = wib(when)
    result = world.run_post("ig_001", wib(when))
    assert result.success
    return result


def tokens_used(fake, path: str) -> list[str]:
    return [(c.query | c.form()).get("access_token") for c in fake.calls_to(path)]


def test_a_graph_only_account_posts_with_no_private_api_login(graph_world, fake):
    post_on(graph_world, fake, "2026-11-18 08:00")
    (post,) = fake.posts_of(uid("ig_001"))
    assert post.via == "graph"
    private = [c.path for c in fake.calls if c.path.startswith(("/api/", "/graphql_www"))]
    assert private == []  # no login, no feed read, nothing of instagrapi
    assert graph_world.sql("SELECT count(*) FROM ig_sessions") == [(0,)]
    # the reply lane has nothing to read for it and never pauses it
    assert graph_world.run_reply("ig_001", wib("2026-11-18 09:00")).success
    assert graph_world.sql("SELECT cooldown_until, consecutive_failures FROM ig_accounts") == [
        (None, 0)
    ]


def test_the_graph_token_is_refreshed_before_it_expires_and_stored_encrypted(graph_world, fake):
    post_on(graph_world, fake, "2026-11-18 08:00")  # imported today: too young to refresh
    assert fake.calls_to("/refresh_access_token") == []

    post_on(graph_world, fake, "2026-11-19 08:00")  # expiry unknown, 24 h old: refreshed
    (refresh,) = fake.calls_to("/refresh_access_token")
    assert refresh.query["grant_type"] == "ig_refresh_token"
    assert refresh.query["access_token"] == graph_world.graph_token
    ((raw, expires_at),) = graph_world.sql(
        "SELECT encrypted_token, expires_at FROM ig_graph_tokens WHERE account_id = 'ig_001'"
    )
    assert expires_at == wib("2027-01-18 08:00")  # now + the expires_in Meta answered
    (fresh,) = [t for t in fake.graph_tokens if fake.graph_tokens[t]["issued_at"] == wib(
        "2026-11-19 08:00")]
    assert fresh.encode() not in bytes(raw) and graph_world.graph_token.encode() not in bytes(raw)
    assert set(tokens_used(fake, "/media_publish")) == {graph_world.graph_token, fresh}
    assert tokens_used(fake, "/media_publish")[-1] == fresh  # the new token posts at once
    (event,) = graph_world.events("ig.graph_token_refreshed")
    assert fresh not in str(event)

    post_on(graph_world, fake, "2026-11-20 08:00")  # 59 days left: no refresh
    assert len(fake.calls_to("/refresh_access_token")) == 1
    post_on(graph_world, fake, "2027-01-10 08:00")  # 8 days left (< 10): refreshed again
    assert len(fake.calls_to("/refresh_access_token")) == 2
    assert len(fake.posts_of(uid("ig_001"))) == 4


def test_a_failed_refresh_is_an_event_naming_the_account_and_the_post_still_goes(
    graph_world, fake
):
    post_on(graph_world, fake, "2026-11-18 08:00")
    fake.fail_next("/refresh_access_token", status=400, body={"error": {
        "message": "Error validating access token: The session has been invalidated because "
                   "the user changed their password or Facebook has changed the session for "
                   "security reasons.",
        "type": "OAuthException", "code": 190, "error_subcode": 460, "fbtrace_id": "AbC"}})
    post_on(graph_world, fake, "2026-11-19 08:00")
    (failed,) = graph_world.events("ig.graph_token_refresh_failed")
    assert failed["error"].startswith("ig_001: graph_refresh failed: HTTP 400")
    assert "lomba accounts import" in failed["fix"] and "ig_001" in failed["fix"]
    assert graph_world.graph_token not in str(failed)
    assert len(fake.posts_of(uid("ig_001"))) == 2  # the current token is still valid
    post_on(graph_world, fake, "2026-11-20 08:00")  # tried again the next day
    assert len(graph_world.events("ig.graph_token_refreshed")) == 1


def test_an_expired_graph_token_fails_the_post_with_meta_s_reason(graph_world, fake):
    post_on(graph_world, fake, "2026-11-18 08:00")
    fake.fail_next("/refresh_access_token", status=500, raw=b"<html>down</html>", times=20)
    for day in ("2026-11-19", "2026-11-20"):
        post_on(graph_world, fake, f"{day} 08:00")
    fake.graph_now = wib("2026-12-01 08:00")  # the imported token ended on 2026-11-30
    graph_world.run_post("ig_001", wib("2026-12-01 08:00"))
    errors = [e for (e,) in graph_world.sql(
        "SELECT error FROM ig_actions WHERE kind = 'post' AND error IS NOT NULL")]
    assert any("ig_001: graph_container failed: HTTP 400: Error validating access token: "
               "Session has expired" in e for e in errors)


@pytest.mark.parametrize(
    ("url", "addresses", "why"),
    [
        ("http://127.0.0.1:8040/media/ig-posts/a.jpg", None, "https only"),  # the local store
        ("https://127.0.0.1/media/a.jpg", None, "loopback"),
        ("https://10.20.30.40/a.jpg", None, "private"),
        ("https://[::1]/a.jpg", None, "loopback"),
        ("https://localhost/a.jpg", ["127.0.0.1"], "loopback"),
        ("https://media.kantor.example/a.jpg", ["192.168.1.5"], "private"),
        ("ftp://media.example.com/a.jpg", None, "not 'ftp'"),
        ("https://media.example.com/a.jpg", ["93.184.216.34"], None),
    ],
)
def test_the_graph_publisher_refuses_an_image_url_meta_cannot_fetch(fake, url, addresses, why):
    from lomba_pipeline.resources.instagram_ops import GraphApiPublisher, InstagramCallFailed

    fake.graph_now = wib("2026-11-20 08:00")
    token = fake.issue_graph_token("1009", wib("2026-11-15 08:00"))
    publisher = GraphApiPublisher(
        "ig_009", fake.url + "/graph", "1009", token, poll_seconds=0,
        resolver=lambda host, port: addresses or [],
    )
    if why is None:
        assert publisher.publish(b"x", url, "Caption").via == "graph"
        return
    with pytest.raises(InstagramCallFailed) as err:
        publisher.publish(b"x", url, "Caption")
    assert str(err.value).startswith(f"ig_009: graph_container failed: image URL {url} is not public")
    assert why in str(err.value)
    assert fake.calls_to("/graph/") == []  # Meta was never asked


def test_a_graph_post_from_the_local_object_store_is_refused_naming_account_and_url(
    graph_world, fake, tmp_path
):
    from lomba_pipeline.resources.object_store import LocalObjectStore

    graph_world.object_store = LocalObjectStore(
        root=str(tmp_path / "media"), public_base_url="http://127.0.0.1:8040/media"
    )
    fake.graph_now = wib("2026-11-18 08:00")
    graph_world.run_post("ig_001", wib("2026-11-18 08:00"))
    assert fake.posts_of(uid("ig_001")) == [] and fake.calls_to("/graph/") == []
    ((error,),) = graph_world.sql("SELECT error FROM ig_actions WHERE kind = 'post'")
    assert error.startswith("ig_001: graph_container failed: image URL http://127.0.0.1:8040/media/")
    assert "LOMBA_R2_" in error


def test_a_new_token_put_in_accounts_env_replaces_the_refreshed_one(
    graph_world, fake, monkeypatch, settings
):
    post_on(graph_world, fake, "2026-11-18 08:00")
    post_on(graph_world, fake, "2026-11-19 08:00")  # refreshed: the stored token is Meta's new one
    newer = fake.issue_graph_token(uid("ig_001"), wib("2026-11-19 12:00"))
    store_credentials(graph_world, monkeypatch, settings, graph_access_token=newer,
                      graph_user_id=uid("ig_001"))
    post_on(graph_world, fake, "2026-11-20 08:00")
    assert tokens_used(fake, "/media_publish")[-1] == newer
    assert graph_world.sql("SELECT expires_at FROM ig_graph_tokens") == [(None,)]  # unknown again
    # re-importing the same token again changes nothing: the refreshed token is kept
    post_on(graph_world, fake, "2026-11-21 08:00")  # 24 h after import: refreshed
    store_credentials(graph_world, monkeypatch, settings, graph_access_token=newer,
                      graph_user_id=uid("ig_001"))
    ((expires_at,),) = graph_world.sql("SELECT expires_at FROM ig_graph_tokens")
    assert expires_at == wib("2027-01-20 08:00")
