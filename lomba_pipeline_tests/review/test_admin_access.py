"""Access control of the admin panel: login, CSRF, roles, no secrets on pages.

Sessions: test_admin_sessions.py; throttling: test_login_throttling.py.
"""

import httpx
import pytest

from lomba_pipeline_tests.review.conftest import PASSWORD, insert_record
from lomba_pipeline_tests.review.http_client import csrf_from, login

pytestmark = pytest.mark.timeout(120)

PAGES = ["/", "/lomba", "/lomba/{id}", "/tautan", "/peristiwa", "/peristiwa?kind=review.",
         "/biaya-ai"]
POSTS = ["/lomba/{id}/setujui", "/lomba/{id}/tolak", "/lomba/{id}/ubah", "/lomba/{id}/duplikat",
         "/lomba/{id}/hapus", "/lomba/{id}/poster", "/tautan", "/logout"]


def test_every_page_needs_a_session(admin_server, postgres, reviewer):
    cid = insert_record(postgres)
    anon = httpx.Client(base_url=admin_server.url, follow_redirects=False)
    for path in PAGES:
        response = anon.get(path.format(id=cid))
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    for path in POSTS:
        response = anon.post(path.format(id=cid), data={"csrf_token": "x"})
        assert response.status_code == 303 and "/login" in response.headers["location"], path
    assert anon.get("/api/v1/competitions").status_code == 401
    assert anon.get("/health").json() == {"status": "ok"}
    assert anon.get("/login").status_code == 200
    with postgres.cursor() as cur:
        cur.execute("SELECT review_status FROM competitions WHERE id = %s", (cid,))
        assert cur.fetchone()["review_status"] == "pending"


def test_login_then_original_page_and_cookie_flags(admin_server, reviewer, postgres):
    cid = insert_record(postgres)
    client = httpx.Client(base_url=admin_server.url, follow_redirects=False)
    first = client.get(f"/lomba/{cid}")
    target = first.headers["location"]
    page = client.get(target)
    response = client.post("/login", data={
        "username": "rina", "password": PASSWORD, "csrf_token": csrf_from(page.text),
        "next": f"/lomba/{cid}",
    })
    assert response.status_code == 303 and response.headers["location"] == f"/lomba/{cid}"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get(f"/lomba/{cid}").status_code == 200


def test_login_refuses_offsite_next(admin_server, reviewer):
    client = httpx.Client(base_url=admin_server.url, follow_redirects=False)
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": "rina", "password": PASSWORD,
                                           "csrf_token": token, "next": "//evil.example/x"})
    assert response.headers["location"] == "/"


def test_post_without_csrf_token_is_refused(admin_server, postgres, reviewer, waha):
    cid = insert_record(postgres)
    client, token = login(admin_server.url, "rina", PASSWORD)
    for data in ({}, {"csrf_token": "forged-token"}):
        response = client.post(f"/lomba/{cid}/setujui", data=data)
        assert response.status_code == 403
        assert "CSRF" in response.text
    # login itself needs the token too
    anon = httpx.Client(base_url=admin_server.url)
    assert anon.post("/login", data={"username": "rina", "password": PASSWORD}).status_code == 403
    with postgres.cursor() as cur:
        cur.execute("SELECT review_status FROM competitions WHERE id = %s", (cid,))
        assert cur.fetchone()["review_status"] == "pending"
    assert waha.delivered == []
    # with the token the same request works
    assert client.post(f"/lomba/{cid}/setujui", data={"csrf_token": token}).status_code == 303


def test_reviewer_cannot_delete_but_admin_can(admin_server, postgres, reviewer):
    cid = insert_record(postgres)
    client, token = login(admin_server.url, "rina", PASSWORD)
    assert client.post(f"/lomba/{cid}/hapus", data={"csrf_token": token}).status_code == 403
    boss, boss_token = login(admin_server.url, "bos", PASSWORD)
    assert boss.post(f"/lomba/{cid}/hapus", data={"csrf_token": boss_token}).status_code == 303
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM competitions")
        assert cur.fetchone()["n"] == 0


def test_no_secret_appears_on_any_page(admin_server, postgres, reviewer, review_settings):
    cid = insert_record(postgres)
    client, token = login(admin_server.url, "rina", PASSWORD)
    client.post(f"/lomba/{cid}/setujui", data={"csrf_token": token})  # writes events, broadcasts
    secrets = [review_settings.admin_secret_key, "waha-test-key", "catalog-token-for-tests",
               review_settings.database.url.split("@")[0]]
    with postgres.cursor() as cur:
        cur.execute("SELECT password_hash FROM admin_users")
        secrets += [r["password_hash"] for r in cur.fetchall()]
    for path in ["/", "/lomba", f"/lomba/{cid}", "/tautan", "/peristiwa"]:
        html = client.get(path).text
        for secret in secrets:
            assert secret not in html, (path, secret[:6])
    assert PASSWORD not in client.get("/peristiwa").text


def test_disabled_user_loses_session(admin_server, postgres, reviewer):
    client, _ = login(admin_server.url, "rina", PASSWORD)
    assert client.get("/").status_code == 200
    with postgres.cursor() as cur:
        cur.execute("UPDATE admin_users SET disabled = true WHERE username = 'rina'")
    assert client.get("/").status_code == 303
