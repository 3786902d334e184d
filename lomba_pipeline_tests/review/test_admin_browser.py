"""The admin panel in a real browser (Playwright driving Debian's Chromium)."""

import re
from datetime import date

import pytest

from lomba_pipeline_tests.processes import launch_chromium
from lomba_pipeline_tests.review.conftest import CHANNEL, PASSWORD, insert_record, poster_bytes

pytestmark = pytest.mark.timeout(180)

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def log_in(page, base, username="rina"):
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_edit_approve_leaves_queue_and_sends_one_whatsapp(
    page, admin_server, postgres, media_store, reviewer, waha
):
    base = admin_server.url
    cid = insert_record(postgres, media_store, poster=poster_bytes(101), source_kind="ig",
                        source_name="infolomba.indonesia.id",
                        title="OPEN REGISTRATION: INDONESIA TAX OLYMPIADE 2026",
                        organizer="Perbanas Institute", end_date=date(2026, 12, 30),
                        levels=["SMA"], extracted_from={"title": "zhipu", "organizer": "mistral",
                                                        "end_date": "gemini"})
    other = insert_record(postgres, title="Lomba Menulis Surat", end_date=date(2026, 12, 20))

    page.goto(base + "/")
    assert "/login" in page.url
    log_in(page, base)
    assert page.url == base + "/"
    card = page.locator(f"#record-{cid}")
    assert card.is_visible()
    assert card.locator("img").evaluate("img => img.naturalWidth") > 0  # poster served from /media
    assert "mistral" in card.inner_text()  # provider shown next to the field

    card.locator("a", has_text="Ubah").click()
    page.wait_for_url(f"{base}/lomba/{cid}")
    page.fill("#f-title", "Indonesia Tax Olympiade 2026")
    page.check("input[name=levels][value=Mahasiswa]")
    page.click("#save")
    page.wait_for_selector("text=Perubahan disimpan.")
    assert page.inner_text("#record-title") == "Indonesia Tax Olympiade 2026"
    assert "manual:rina" in page.inner_text("#edit-form")

    page.click("#approve")
    page.wait_for_url(base + "/")
    assert re.search(rf"#{cid} disetujui\. Terkirim ke kanal WhatsApp", page.inner_text("main"))
    assert page.locator(f"#record-{cid}").count() == 0  # left the queue
    assert page.locator(f"#record-{other}").count() == 1

    assert len(waha.delivered) == 1
    message = waha.delivered[0]
    assert message["chatId"] == CHANNEL
    assert message["caption"].startswith("*Indonesia Tax Olympiade 2026*")
    assert "SMA, Mahasiswa" in message["caption"] and "30 Desember 2026" in message["caption"]
    # the variant WhatsApp will fetch is reachable at its public URL
    assert page.request.get(message["file"]["url"]).status == 200

    page.goto(f"{base}/peristiwa?kind=review.")
    timeline = page.inner_text("#events")
    assert "review.edited" in timeline and "review.approved" in timeline
    assert "OPEN REGISTRATION: INDONESIA TAX OLYMPIADE 2026" in timeline  # before → after


def test_script_in_caption_renders_as_text(page, admin_server, postgres, reviewer):
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
    cid = insert_record(postgres, title="Lomba " + hostile, description=hostile,
                        organizer=hostile, canonical_url="javascript:window.__pwned=3")
    page.goto(admin_server.url + f"/lomba/{cid}")
    log_in(page, admin_server.url)
    page.wait_for_url(admin_server.url + f"/lomba/{cid}")
    assert hostile in page.inner_text("#record-title")
    assert hostile in page.inner_text("#caption")
    assert page.evaluate("window.__pwned") is None
    assert page.get_attribute("p.source a[target=_blank]", "href") == "#"
    page.goto(admin_server.url + "/")
    assert hostile in page.inner_text(f"#record-{cid}")
    assert page.evaluate("window.__pwned") is None


def test_form_without_csrf_token_is_refused_in_the_browser(page, admin_server, postgres, reviewer,
                                                           waha):
    cid = insert_record(postgres)
    page.goto(admin_server.url + "/login")
    log_in(page, admin_server.url)
    page.wait_for_url(admin_server.url + "/")
    # a form another site could make the browser send: same cookies, no token
    page.evaluate(
        """cid => { const f = document.createElement('form'); f.method = 'post';
             f.action = '/lomba/' + cid + '/setujui'; document.body.appendChild(f); f.submit(); }""",
        cid,
    )
    page.wait_for_selector("text=Formulir ditolak")
    assert "CSRF" in page.inner_text("main")
    page.goto(admin_server.url + "/")
    assert page.locator(f"#record-{cid}").count() == 1
    assert waha.delivered == []


def test_every_page_redirects_to_login(page, admin_server, postgres):
    cid = insert_record(postgres)
    for path in ["/", "/lomba", f"/lomba/{cid}", "/tautan", "/peristiwa"]:
        page.goto(admin_server.url + path)
        assert page.url.startswith(admin_server.url + "/login?next="), path
        assert page.locator("input[name=password]").is_visible()


def test_double_click_on_approve_sends_one_message(page, admin_server, postgres, reviewer, waha):
    cid = insert_record(postgres, title="KSAI 2026", end_date=date(2026, 12, 31))
    waha.latency_seconds = 0.3
    page.goto(admin_server.url + f"/lomba/{cid}")
    log_in(page, admin_server.url)
    page.wait_for_url(admin_server.url + f"/lomba/{cid}")
    page.dblclick("#approve")
    page.wait_for_url(admin_server.url + "/")
    page.goto(admin_server.url + f"/lomba/{cid}")  # then the person retries from the record page
    page.wait_for_selector("text=Kirim ke WhatsApp (jika belum/gagal)")
    page.click("text=Kirim ke WhatsApp (jika belum/gagal)")
    page.wait_for_selector("text=sudah pernah dikirim")
    assert len(waha.delivered) == 1


def test_manual_link_form(page, admin_server, postgres, reviewer):
    page.goto(admin_server.url + "/tautan")
    log_in(page, admin_server.url)
    page.wait_for_url(admin_server.url + "/tautan")
    page.fill("#urls", "https://www.instagram.com/p/DSlsNe5E5iO/?igsh=abc\n"
                       "https://www.instagram.com/infolomba.indonesia.id/\n"
                       "https://example.com/p/ABCDEF/")
    page.click("#submit-links")
    text = page.inner_text("main")
    assert "1 tautan baru disimpan" in text
    assert "bukan tautan satu postingan Instagram" in text
    assert "bukan tautan Instagram (host example.com)" in text
    assert "https://www.instagram.com/p/DSlsNe5E5iO/" in text
