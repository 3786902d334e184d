"""Another domain adds a page: a router plus a template extending ``base.html``."""

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient

from lomba_pipeline.admin.app import add_pages, create_app, current_user, render
from lomba_pipeline.resources.whatsapp import WhatsAppGateway
from lomba_pipeline_tests.review.conftest import PASSWORD
from lomba_pipeline_tests.review.http_client import csrf_from

pytestmark = pytest.mark.timeout(60)


def test_extra_page_gets_layout_navigation_and_login(postgres, local_store, review_settings,
                                                     reviewer, tmp_path):
    (tmp_path / "uji_ekstensi.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1 id="t">Halaman uji: {{ n }}</h1>'
        "{% endblock %}"
    )
    router = APIRouter(dependencies=[Depends(current_user)])

    @router.get("/uji-ekstensi")
    def accounts(request: Request):
        return render(request, "uji_ekstensi.html", {"n": 10})

    app = create_app(review_settings, postgres, local_store, WhatsAppGateway())
    add_pages(app, router, templates_dir=tmp_path, nav=[("Halaman uji", "/uji-ekstensi")])
    client = TestClient(app, follow_redirects=False)
    assert client.get("/uji-ekstensi").headers["location"] == "/login?next=%2Fuji-ekstensi"
    token = csrf_from(client.get("/login").text)
    client.post("/login", data={"username": "rina", "password": PASSWORD, "csrf_token": token})
    html = client.get("/uji-ekstensi").text
    assert '<h1 id="t">Halaman uji: 10</h1>' in html
    assert '<a href="/uji-ekstensi">Halaman uji</a>' in html and "Keluar" in html
