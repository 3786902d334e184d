"""The Instagram-operations pages of the admin panel (/persetujuan, /akun-ig), with state made by
the real lanes against the fake Instagram, in Debian's Chromium and over plain HTTP."""

import threading

import httpx
import pytest

from lomba_pipeline.ig_ops import lanes
from lomba_pipeline.ig_ops.clock import IgClock
from lomba_pipeline.ig_ops.store import list_pending_approvals
from lomba_pipeline_tests.ig_ops.world import SPEC_FILE, build_world, uid, wib
from lomba_pipeline_tests.review.conftest import (  # noqa: F401  (fixtures)
    PASSWORD,
    admin_port,
    admin_server,
    media_store,
    review_settings,
    reviewer,
    waha,
    whatsapp,
)
from lomba_pipeline_tests.review.http_client import csrf_from, login
from lomba_pipeline_tests.review.test_admin_browser import browser, log_in, page  # noqa: F401

pytestmark = pytest.mark.timeout(120)

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
NOW = wib("2026-11-20 10:00")
DECISIONS = "('ig.approval_approved', 'ig.approval_rejected')"


class EchoDrafter:
    """Stands in for the LLM: its draft quotes the comment, so hostile text reaches the draft."""

    def draft(self, *, kind, incoming, username):
        return f"Halo @{username}, soal '{incoming}' kami cek dulu ya."


@pytest.fixture
def world(fake, postgres, media_store, tmp_path, monkeypatch, settings):  # noqa: F811
    spec = SPEC_FILE.read_text().replace("llm_drafts: false", "llm_drafts: true")
    return build_world(
        fake,
        postgres,
        media_store,
        tmp_path,
        monkeypatch,
        settings,
        accounts=["ig_001", "ig_002", "ig_003", "ig_004"],
        new_accounts=("ig_003",),
        spec_text=spec,
        posts_per_account=2,
    )


def pending_by(world) -> dict[tuple[str, str], int]:
    with world.postgres.connection() as conn:
        return {(p["account_id"], p["reason"]): p["id"] for p in list_pending_approvals(conn)}


def sensitive_dm(world) -> str:
    """ig_001: a DM with a configured word waits for a person (the real reply job)."""
    thread = world.dm("ig_001", "Kak, mau kerja sama endorse untuk lomba kami")
    assert world.run_reply("ig_001", NOW).success
    return thread


@pytest.fixture
def day(world, fake, admin_server):  # noqa: F811
    """A morning through the real lanes: replies sent, a sensitive DM, an LLM-drafted answer to a
    hostile comment, a new account's first post, an account failing into cooldown."""
    admin_server.app.state.ig_clock = IgClock(frozen_at=wib("2026-11-20 10:05").isoformat())
    world.comment("ig_001", "Kak, link daftarnya di mana?")
    world.dm("ig_001", "Info lomba desain dong", who="dewi", who_pk=601)
    thread = sensitive_dm(world)
    assert world.run_post("ig_001", NOW).success

    world.comment("ig_002", HOSTILE, who="penyusup", who_pk=666)
    ig_ops = world.resources(NOW)["ig_ops"]
    gateway = lanes.open_gateway(world.postgres, ig_ops, "ig_002")
    drafted = lanes.plan_replies(world.postgres, gateway, "ig_002", NOW, drafter=EchoDrafter())
    assert drafted.awaiting_approval == 1

    assert world.run_post("ig_003", NOW).success  # first post of a new account waits

    # ig_004's Instagram fails: the lane's own calls count the failures into a cooldown (the
    # lane functions directly, without the job's retry backoff sleeps)
    gateway = lanes.open_gateway(world.postgres, ig_ops, "ig_004")
    fake.set_down(uid("ig_004"), 500)
    for _ in range(2):
        failed = lanes.plan_replies(world.postgres, gateway, "ig_004", NOW)
    assert failed.cooldown_until is not None
    return {"thread": thread, "pending": pending_by(world)}


def account_row(tab, account) -> dict:
    row = tab.locator(f"#account-{account}")
    return {
        c: row.locator(f"td.{c}").inner_text().strip()
        for c in ("state", "post", "replies", "dms", "failures", "pending")
    }


def test_a_morning_in_the_browser(page, admin_server, world, fake, day, reviewer):  # noqa: F811
    """One browser session over the morning (the lanes make the state once: ~15 s of it is
    instagrapi's own fixed sleeps)."""
    base = admin_server.url
    assert set(day["pending"]) == {
        ("ig_001", "dm_sensitive_word"),
        ("ig_002", "llm_draft"),
        ("ig_003", "first_post"),
    }
    dm_id = day["pending"][("ig_001", "dm_sensitive_word")]
    draft_id = day["pending"][("ig_002", "llm_draft")]
    post_id = day["pending"][("ig_003", "first_post")]

    # -- /akun-ig: each account's state at 10:05 WIB
    page.goto(base + "/akun-ig")
    assert "/login?next=%2Fakun-ig" in page.url
    log_in(page, base)
    page.wait_for_url(base + "/akun-ig")
    assert page.locator("header nav a", has_text="Akun IG").get_attribute("href") == "/akun-ig"
    assert account_row(page, "ig_001") == {
        "state": "Aktif",
        "post": "Ya",
        "replies": "1",
        "dms": "1",
        "failures": "0",
        "pending": "1",
    }
    assert account_row(page, "ig_002")["pending"] == "1"
    assert account_row(page, "ig_003")["post"] == "Belum (menunggu persetujuan)"
    cooling = account_row(page, "ig_004")
    # 3 consecutive failures at 10:00 WIB pause the account for 15 minutes (the spec)
    assert cooling["state"] == "Jeda sampai 10:15 WIB\nsetelah 3 kegagalan berturut-turut"
    assert cooling["failures"] == "3" and cooling["post"] == "Belum"
    assert "feed failed: ClientError: injected outage" in page.inner_text("#account-ig_004")
    assert "AbCdEfGhIjKlMnOp" not in page.content()  # the accounts' session ids stay secret

    # -- /persetujuan: what waits, and why
    page.click("header nav >> text=Persetujuan IG")
    page.wait_for_url(base + "/persetujuan")
    dm_card = page.locator(f"#approval-{dm_id}")
    text = dm_card.inner_text()
    assert "Balasan DM" in text and "ig_001 (@op.ig_001)" in text
    assert "DM berisi kata sensitif (kerja sama, endorse)" in text
    assert dm_card.locator(".incoming").inner_text() == (
        "Kak, mau kerja sama endorse untuk lomba kami"
    )
    proposed = dm_card.locator(".proposed").inner_text()
    assert proposed.startswith("Halo kak @siswa_b")
    post_card = page.locator(f"#approval-{post_id}")
    assert "Postingan pertama akun baru" in post_card.inner_text()
    assert post_card.locator("img").evaluate("img => img.naturalWidth") > 0  # the poster variant
    assert post_card.locator(".proposed").inner_text().strip() != ""  # the caption to be posted
    # a hostile comment, and the LLM draft quoting it, are shown as text and never run
    draft_card = page.locator(f"#approval-{draft_id}")
    assert "Komentar dari @penyusup" in draft_card.inner_text()
    assert draft_card.locator(".incoming").inner_text() == HOSTILE
    assert HOSTILE in draft_card.locator(".proposed").inner_text()
    assert draft_card.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert "AbCdEfGhIjKlMnOp" not in page.content()

    # -- approve one, reject another
    dm_card.locator("button.approve").click()
    page.wait_for_selector(f"text=#{dm_id} disetujui")
    assert page.locator(f"#approval-{dm_id}").count() == 0  # left the queue
    page.locator(f"#approval-{post_id} button.reject").click()
    page.wait_for_selector(f"text=#{post_id} ditolak")
    assert page.locator(f"#approval-{post_id}").count() == 0
    assert page.locator(".approval").count() == 1  # only the LLM draft still waits
    decided = page.inner_text("#decided")
    assert f"{dm_id}\tig_001\tBalasan DM\tDM berisi kata sensitif\tdisetujui\trina" in decided
    assert decided.splitlines()[2].endswith("WIB\tantre, dikirim putaran berikutnya")
    assert decided.splitlines()[1].startswith(f"{post_id}\tig_003\tPostingan\t")
    assert decided.splitlines()[1].endswith("WIB\ttidak dikirim")

    rows = world.sql(
        "SELECT id, status, decided_by FROM approvals WHERE id IN (%s, %s) ORDER BY id",
        (dm_id, post_id),
    )
    assert sorted(rows) == sorted([(dm_id, "approved", "rina"), (post_id, "rejected", "rina")])
    events = world.sql(
        "SELECT kind, actor, subject FROM events WHERE kind IN " + DECISIONS + " ORDER BY id"
    )
    assert events == [
        ("ig.approval_approved", "rina", f"approval:{dm_id}"),
        ("ig.approval_rejected", "rina", f"approval:{post_id}"),
    ]
    page.goto(base + "/akun-ig")
    assert account_row(page, "ig_001")["pending"] == "0"
    assert account_row(page, "ig_003")["post"] == "Tidak (ditolak)"

    # the approved reply goes out on the next tick, once; the rejected post never
    assert world.run_reply("ig_001", wib("2026-11-20 10:10")).success
    assert [i.text for i in fake.sent_in(day["thread"])] == [proposed]
    assert world.run_post("ig_003", wib("2026-11-20 10:10")).success
    assert fake.posts_of(uid("ig_003")) == []


@pytest.fixture
def dm_approval(world, admin_server):  # noqa: F811
    sensitive_dm(world)
    (approval_id,) = pending_by(world).values()
    return approval_id


def test_pages_need_a_session_and_posts_a_csrf_token(admin_server, world, dm_approval, reviewer):  # noqa: F811
    anon = httpx.Client(base_url=admin_server.url, follow_redirects=False)
    for path in ("/persetujuan", "/akun-ig"):
        response = anon.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith(
            "/login?next="
        ), path
    for action in ("setujui", "tolak"):
        response = anon.post(f"/persetujuan/{dm_approval}/{action}", data={"csrf_token": "x"})
        assert response.status_code == 303 and "/login" in response.headers["location"]

    client, token = login(admin_server.url, "rina", PASSWORD)
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post(f"/persetujuan/{dm_approval}/setujui", data=data)
        assert response.status_code == 403 and "Formulir ditolak" in response.text
    assert world.sql("SELECT status, decided_by FROM approvals") == [("pending", None)]
    assert world.sql("SELECT count(*) FROM events WHERE kind IN " + DECISIONS) == [(0,)]


def test_double_submit_and_retry_decide_once(admin_server, world, dm_approval, reviewer):  # noqa: F811
    client, _ = login(admin_server.url, "rina", PASSWORD)
    token = csrf_from(client.get("/persetujuan").text)
    cookies = dict(client.cookies)
    start = threading.Barrier(3)
    answers = []

    def submit():
        # a separate connection per click, same session and token (what a double click sends)
        with httpx.Client(base_url=admin_server.url, cookies=cookies) as c:
            start.wait()
            answers.append(
                c.post(
                    f"/persetujuan/{dm_approval}/setujui",
                    data={"csrf_token": token},
                    follow_redirects=False,
                )
            )

    clicks = [threading.Thread(target=submit) for _ in range(3)]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    assert [r.status_code for r in answers] == [303, 303, 303]
    assert world.sql("SELECT kind, actor FROM events WHERE kind IN " + DECISIONS) == [
        ("ig.approval_approved", "rina")
    ]
    # a later retry, or a reject after the approval, changes nothing and says so
    client.post(f"/persetujuan/{dm_approval}/tolak", data={"csrf_token": token})
    html = client.get("/persetujuan").text
    assert f"Persetujuan #{dm_approval} sudah disetujui oleh rina" in html
    assert world.sql("SELECT status, decided_by FROM approvals") == [("approved", "rina")]
    assert world.sql("SELECT status FROM ig_actions") == [("planned",)]
