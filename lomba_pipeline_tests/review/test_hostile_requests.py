"""Bad parameters on every admin route get a 4xx with a message, never a 500 or a traceback.

Each request goes over HTTP to the real panel, signed in as a reviewer. The panel logs a 500 with
its traceback, so "no 500" is also "no traceback on the page".
"""

import httpx
import pytest

from lomba_pipeline_tests.review.conftest import PASSWORD, insert_record
from lomba_pipeline_tests.review.http_client import csrf_from, login

pytestmark = pytest.mark.timeout(120)

HUGE = "1" + "0" * 20  # 10^20: more than a bigint holds
NUL = "%00"

GETS = [
    f"/?page={HUGE}", "/?page=abc", "/?page=-1", "/?page=0",
    f"/lomba?page={HUGE}", f"/lomba?q={NUL}", f"/lomba?status={NUL}", f"/lomba?q=a{NUL}b",
    "/lomba?q=" + "x" * 5000,
    f"/lomba/{HUGE}", f"/lomba/{NUL}", "/lomba/-5", "/lomba/%C0%AF", "/lomba/1e3",
    f"/peristiwa?before={HUGE}", "/peristiwa?before=-1", f"/peristiwa?kind={NUL}",
    f"/peristiwa?actor={NUL}", f"/peristiwa?subject={NUL}",
    f"/tautan?x={NUL}", f"/persetujuan?x={NUL}", f"/akun-ig?{NUL}=1",
    f"/login?next={NUL}", f"/media/{NUL}", f"/media/posters/{NUL}.png", "/media/..%2F..%2Fetc",
    f"/api/v1/competitions?page={HUGE}", "/api/v1/competitions?per_page=0",
    f"/api/v1/competitions?level={NUL}", f"/api/v1/competitions?category={NUL}",
    "/api/v1/competitions?deadline_from=2026-13-45",
    "/api/v1/competitions?deadline_to=99999999-01-01",
    "/api/v1/competitions?level=" + "x" * 5000,
    "/tidak-ada-halaman-ini",
]


def assert_clean_4xx(response: httpx.Response, what: str) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.json().get("error") or response.json().get("detail"), what
    else:
        assert 'class="flash error"' in response.text or "name=\"password\"" in response.text, what


@pytest.fixture
def signed_in(admin_server, reviewer):
    return login(admin_server.url, "rina", PASSWORD)


@pytest.mark.parametrize("path", GETS)
def test_hostile_query_and_path_parameters(signed_in, path):
    client, _ = signed_in
    assert_clean_4xx(client.get(path), path)


def test_nul_in_an_urlencoded_form_is_refused_before_any_route(signed_in, postgres):
    client, token = signed_in
    cid = insert_record(postgres, title="Lomba Debat")
    for path, field in [(f"/lomba/{cid}/ubah", "title"), (f"/lomba/{cid}/tolak", "note"),
                        ("/tautan", "urls"), (f"/lomba/{cid}/duplikat", "original_id"),
                        ("/persetujuan/1/setujui", "x")]:
        response = client.post(path, data={"csrf_token": token, field: "a\x00b"})
        assert_clean_4xx(response, path)
        assert f"Isian {field} berisi karakter NUL" in response.text  # names the field
    assert huge_form_is_refused(client, token, cid)
    with postgres.cursor() as cur:
        cur.execute("SELECT title, review_status FROM competitions WHERE id = %s", (cid,))
        assert dict(cur.fetchone()) == {"title": "Lomba Debat", "review_status": "pending"}


def huge_form_is_refused(client, token, cid) -> bool:
    response = client.post(f"/lomba/{cid}/ubah",
                           data={"csrf_token": token, "description": "x" * 2_000_000})
    assert_clean_4xx(response, "2 MB form")
    return response.status_code == 413


def flashed_error(client: httpx.Client, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:300]
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'class="flash error"' in page.text, "no error message shown"
    return page.text


def test_hostile_multipart_fields_get_a_message_naming_the_field(signed_in, postgres):
    client, token = signed_in
    cid = insert_record(postgres, title="Lomba Debat", fee_amount=1000)
    as_multipart = {"file": ("", b"", "application/octet-stream")}  # forces multipart/form-data

    def post(path, **fields):
        return client.post(path, data={"csrf_token": token, **fields}, files=as_multipart)

    page = flashed_error(client, post(f"/lomba/{cid}/ubah", title="a\x00b"))
    assert "Judul: berisi karakter NUL" in page
    page = flashed_error(client, post(f"/lomba/{cid}/ubah", fee_amount="9" * 30))
    assert "Biaya (Rp, 0 = gratis): terlalu besar" in page
    page = flashed_error(client, post(f"/lomba/{cid}/ubah",
                                      registration_url="javascript:alert(1)"))
    assert "Link pendaftaran: hanya tautan http(s)" in page
    page = flashed_error(client, post(f"/lomba/{cid}/ubah", guidebook_url="https://x:port/"))
    assert "Link panduan: tautan tidak valid" in page
    flashed_error(client, post(f"/lomba/{cid}/duplikat", original_id=HUGE))
    flashed_error(client, post("/tautan", urls="https://www.instagram.com/p/A\x00B/"))
    assert post(f"/lomba/{cid}/tolak", note="bukan\x00lomba").status_code == 303  # NUL dropped
    with postgres.cursor() as cur:
        cur.execute("SELECT title, fee_amount, registration_url, review_status "
                    "FROM competitions WHERE id = %s", (cid,))
        assert dict(cur.fetchone()) == {"title": "Lomba Debat", "fee_amount": 1000,
                                        "registration_url": None, "review_status": "rejected"}
    anon = httpx.Client(base_url=client.base_url, follow_redirects=False)
    login_page = anon.get("/login")
    token = login_page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = anon.post("/login", data={"csrf_token": token, "username": "ri\x00na",
                                         "password": PASSWORD}, files=as_multipart)
    assert response.status_code == 401 and "kata sandi salah" in response.text


@pytest.mark.parametrize("path", [f"/lomba/{HUGE}/setujui", f"/lomba/{HUGE}/ubah",
                                  f"/lomba/{HUGE}/poster", f"/persetujuan/{HUGE}/setujui",
                                  "/lomba/1/poster"])
def test_hostile_ids_and_missing_parts_in_posts(signed_in, path):
    client, token = signed_in
    response = client.post(path, data={"csrf_token": token})
    if response.status_code == 303:  # a page that answers with a message after the redirect
        flashed_error(client, response)
    else:
        assert_clean_4xx(response, path)


@pytest.mark.parametrize("value", ["Bearer tökén".encode(), b"Bearer t\xf6k\xe9n",
                                   b"Bearer \xff\xfe", "Bearer カタログ".encode()])
def test_non_ascii_bearer_token_is_a_plain_401(admin_server, value):
    api = httpx.Client(base_url=admin_server.url)
    response = api.get("/api/v1/competitions", headers={"Authorization": value})
    assert response.status_code == 401 and response.json() == {"error": "login required"}


def test_non_ascii_csrf_header_and_cookie_are_refused_cleanly(signed_in, admin_server, postgres):
    client, _ = signed_in
    cid = insert_record(postgres)
    response = client.post(f"/lomba/{cid}/setujui", headers={"X-CSRF-Token": "tökén".encode()})
    assert response.status_code == 403 and "CSRF" in response.text
    garbage = httpx.Client(base_url=admin_server.url, follow_redirects=False,
                           headers={"Cookie": b"lomba_admin=\xf6\xff; lomba_admin_login=\xe9"})
    assert garbage.get("/lomba").status_code == 303
    assert garbage.get("/login").status_code == 200


@pytest.mark.parametrize("target", ["/\r\nSet-Cookie: x=1", "/lomba\x00", "/\x7f", "/ok\tx"])
def test_control_characters_never_reach_a_redirect(admin_server, reviewer, postgres, target):
    cid = insert_record(postgres)
    anon = httpx.Client(base_url=admin_server.url, follow_redirects=False)
    token = csrf_from(anon.get("/login").text)
    as_multipart = {"file": ("", b"", "application/octet-stream")}  # past the urlencoded guard
    response = anon.post("/login", data={"csrf_token": token, "username": "rina",
                                         "password": PASSWORD, "next": target},
                         files=as_multipart)
    assert response.status_code == 303 and response.headers["location"] == "/"
    client, token = login(admin_server.url, "rina", PASSWORD)
    response = client.post(f"/lomba/{cid}/buka-lagi", params={"back": target},
                           data={"csrf_token": token})
    if response.status_code == 303:
        assert response.headers["location"] == f"/lomba/{cid}"
    else:  # the guard refused a NUL in the query string
        assert_clean_4xx(response, target)
