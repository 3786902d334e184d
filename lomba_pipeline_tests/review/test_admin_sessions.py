"""Server-side sessions: a copied cookie dies with logout, a password reset, a disabled account,
and after the idle and absolute lifetimes (the panel's clock is moved, never waited for)."""

import hashlib
import re

import httpx
import pytest

from lomba_pipeline.admin.sessions import SESSION_COOKIE
from lomba_pipeline_tests.processes import lomba
from lomba_pipeline_tests.review.conftest import PASSWORD
from lomba_pipeline_tests.review.http_client import csrf_from, login, login_status

pytestmark = pytest.mark.timeout(120)


def stolen_copy(base_url: str, client: httpx.Client) -> httpx.Client:
    """Another machine replaying the victim's session cookie."""
    thief = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)
    thief.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    return thief


def lands_on_login(client: httpx.Client) -> bool:
    response = client.get("/lomba")
    if response.status_code != 303 or not response.headers["location"].startswith("/login"):
        return False
    return 'name="password"' in client.get(response.headers["location"]).text


def test_cookie_holds_only_a_random_id_never_stored_as_such(admin_server, reviewer, postgres):
    client, _ = login(admin_server.url, "rina", PASSWORD)
    value = client.cookies[SESSION_COOKIE]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)  # 32 random bytes, nothing else
    with postgres.cursor() as cur:
        cur.execute("SELECT id_hash, data::text AS data, u.username FROM admin_sessions s "
                    "JOIN admin_users u ON u.id = s.user_id")
        (row,) = cur.fetchall()
    assert bytes(row["id_hash"]) == hashlib.sha256(value.encode()).digest()
    assert value not in row["data"] and row["username"] == "rina"


def test_stolen_cookie_after_logout_gets_the_login_page(admin_server, reviewer):
    client, token = login(admin_server.url, "rina", PASSWORD)
    thief = stolen_copy(admin_server.url, client)
    assert thief.get("/lomba").status_code == 200  # the copy works while the session lives
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert any(c.startswith("lomba_admin=;") and "Max-Age=0" in c
               for c in response.headers.get_list("set-cookie"))  # the browser forgets it too
    assert lands_on_login(thief)
    assert thief.get("/api/v1/competitions").status_code == 401


def test_password_reset_ends_every_session_of_that_user_only(admin_server, reviewer):
    laptop, _ = login(admin_server.url, "rina", PASSWORD)
    phone, _ = login(admin_server.url, "rina", PASSWORD)
    thief = stolen_copy(admin_server.url, laptop)
    boss, _ = login(admin_server.url, "bos", PASSWORD)
    new_password = "kata-sandi-baru-456"
    out = lomba("admin", "create-user", "rina", stdin=new_password + "\n")  # the real CLI
    assert out.returncode == 0, out.stderr
    for client in (laptop, phone, thief):
        assert lands_on_login(client)
    assert boss.get("/lomba").status_code == 200  # other users keep their sessions
    assert login_status(admin_server.url, "rina", PASSWORD) == 401
    fresh, _ = login(admin_server.url, "rina", new_password)
    assert fresh.get("/lomba").status_code == 200


def test_disabling_a_user_ends_the_session(admin_server, reviewer):
    client, _ = login(admin_server.url, "rina", PASSWORD)
    thief = stolen_copy(admin_server.url, client)
    out = lomba("admin", "disable-user", "rina")
    assert out.returncode == 0, out.stderr
    assert lands_on_login(thief) and lands_on_login(client)
    assert login_status(admin_server.url, "rina", PASSWORD) == 401


def test_idle_session_expires(admin_server, reviewer, review_settings):
    idle = review_settings.admin.session_idle_seconds
    client, _ = login(admin_server.url, "rina", PASSWORD)
    admin_server.clock.advance(idle - 60)
    assert client.get("/lomba").status_code == 200  # activity keeps it alive...
    admin_server.clock.advance(idle - 60)
    assert client.get("/lomba").status_code == 200
    admin_server.clock.advance(idle + 1)  # ...silence ends it
    assert lands_on_login(client)


def test_active_session_still_ends_at_the_absolute_limit(admin_server, reviewer, review_settings):
    client, _ = login(admin_server.url, "rina", PASSWORD)
    step = review_settings.admin.session_idle_seconds // 2
    elapsed = 0
    while elapsed + step < review_settings.admin.session_max_seconds:
        admin_server.clock.advance(step)
        elapsed += step
        assert client.get("/lomba").status_code == 200, elapsed
    admin_server.clock.advance(review_settings.admin.session_max_seconds - elapsed)
    assert lands_on_login(client)


def test_login_replaces_the_session_id(admin_server, reviewer):
    client, _ = login(admin_server.url, "rina", PASSWORD)
    first = client.cookies[SESSION_COOKIE]
    token = csrf_from(client.get("/login").text)
    again = client.post("/login", data={"username": "rina", "password": PASSWORD,
                                        "csrf_token": token})
    assert again.status_code == 303
    assert client.cookies[SESSION_COOKIE] != first
    old = httpx.Client(base_url=admin_server.url, follow_redirects=False)
    old.cookies.set(SESSION_COOKIE, first)
    assert lands_on_login(old)
