"""An operated account's credentials against the strict fake: a stored PASSWORD renews an
expired session through instagrapi's real login flow; a wrong one pauses the account and says
how to fix it. (Graph API token refresh and Graph-only accounts: further down.)"""

import pytest
import yaml

from lomba_pipeline.ig_ops.accounts import import_accounts
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline_tests.ig_ops.world import build_world, uid, wib

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def world(fake, postgres, local_store, tmp_path, monkeypatch, settings):
    return build_world(
        fake, postgres, local_store, tmp_path, monkeypatch, settings, accounts=["ig_001"]
    )


def events(world, kind) -> list[dict]:
    return [d for (d,) in world.sql("SELECT data FROM events WHERE kind = %s ORDER BY id", (kind,))]


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
    assert len(events(world, "ig.session_renewed")) == 1
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
    (cooldown,) = events(world, "ig.cooldown_started")
    assert cooldown["why"] == "relogin_failed"
    assert "ig_001" in cooldown["error"] and "BadPassword" in cooldown["error"]
    assert "lomba accounts login ig_001" in cooldown["error"]
    assert "kata-sandi" not in str(events(world, "ig.cooldown_started"))
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
    (cooldown,) = events(world, "ig.cooldown_started")
    assert cooldown["why"] == "relogin_failed"
    assert "lomba accounts login ig_001" in cooldown["error"]
