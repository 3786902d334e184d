"""The read-only JSON API for the catalog app."""

from datetime import timedelta

import httpx
import pytest

from lomba_pipeline_tests.review.conftest import PASSWORD, TODAY, insert_record, poster_bytes
from lomba_pipeline_tests.review.http_client import login

pytestmark = pytest.mark.timeout(60)
TOKEN = {"Authorization": "Bearer catalog-token-for-tests"}


def test_only_approved_open_records_with_filters_and_pages(admin_server, postgres, media_store):
    today = TODAY  # the panel's frozen clock: "open" never depends on the day the test runs
    sma = insert_record(postgres, media_store, poster=poster_bytes(201), review_status="approved",
                        levels=["SMA"], categories=["Akademik & Sains"],
                        end_date=today + timedelta(days=5))
    uni = insert_record(postgres, review_status="approved", levels=["Mahasiswa"],
                        categories=["Bisnis & Startup"], end_date=today + timedelta(days=40))
    open_ended = insert_record(postgres, review_status="approved", end_date=None)
    insert_record(postgres, review_status="approved", end_date=today - timedelta(days=1))
    insert_record(postgres, review_status="pending")
    insert_record(postgres, review_status="rejected")
    api = httpx.Client(base_url=admin_server.url, headers=TOKEN)

    body = api.get("/api/v1/competitions").json()
    assert [i["id"] for i in body["items"]] == [sma, uni, open_ended] and body["total"] == 3
    first = body["items"][0]
    assert first["poster_url"].startswith(admin_server.url + "/media/posters/")
    assert api.get(first["poster_url"]).status_code == 200
    assert "extracted_from" not in first and "reviewed_by" not in first

    assert [i["id"] for i in api.get("/api/v1/competitions?level=SMA").json()["items"]] == [sma]
    by_cat = api.get("/api/v1/competitions", params={"category": "Bisnis & Startup"}).json()
    assert [i["id"] for i in by_cat["items"]] == [uni]
    soon = api.get("/api/v1/competitions",
                   params={"deadline_to": (today + timedelta(days=10)).isoformat()}).json()
    assert [i["id"] for i in soon["items"]] == [sma]
    page2 = api.get("/api/v1/competitions?per_page=2&page=2").json()
    assert [i["id"] for i in page2["items"]] == [open_ended] and not page2["has_next"]
    assert api.get("/api/v1/competitions?per_page=1000").status_code == 422


def test_api_needs_token_or_session(admin_server, postgres, reviewer):
    anon = httpx.Client(base_url=admin_server.url)
    assert anon.get("/api/v1/competitions").status_code == 401
    wrong = anon.get("/api/v1/competitions", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    client, _ = login(admin_server.url, "rina", PASSWORD)
    assert client.get("/api/v1/competitions").status_code == 200


def test_links_that_are_not_http_never_reach_the_catalog_app(admin_server, postgres):
    hostile = insert_record(
        postgres, review_status="approved", canonical_url="javascript:alert(document.cookie)",
        registration_url=" JavaScript:alert(1)", guidebook_url="data:text/html,<script>x</script>",
    )
    odd = insert_record(postgres, review_status="approved", registration_url="https:///no-host",
                        guidebook_url="http://ok.example/a b")
    fine = insert_record(postgres, review_status="approved",
                         registration_url="https://forms.gle/abc",
                         guidebook_url="HTTP://Panduan.example/buku.pdf")
    api = httpx.Client(base_url=admin_server.url, headers=TOKEN)
    items = {i["id"]: i for i in api.get("/api/v1/competitions").json()["items"]}
    links = ("canonical_url", "registration_url", "guidebook_url")
    assert {k: items[hostile][k] for k in links} == dict.fromkeys(links)
    assert (items[odd]["registration_url"], items[odd]["guidebook_url"]) == (None, None)
    assert items[fine]["registration_url"] == "https://forms.gle/abc"
    assert items[fine]["guidebook_url"] == "HTTP://Panduan.example/buku.pdf"
    assert items[fine]["canonical_url"].startswith("https://example.test/lomba/")
