"""Approval → WhatsApp broadcast: exactly once per (record, channel), only approved & open."""

import concurrent.futures
from datetime import timedelta

import pytest

from lomba_pipeline.catalog.review.broadcast import broadcast_competition, notify_review_group
from lomba_pipeline.resources.whatsapp import WhatsAppGateway
from lomba_pipeline_tests.review.conftest import (
    CHANNEL,
    PASSWORD,
    REVIEW_GROUP,
    TODAY,
    insert_record,
    poster_bytes,
)
from lomba_pipeline_tests.review.http_client import login

pytestmark = pytest.mark.timeout(120)


def _status(pg, cid):
    with pg.cursor() as cur:
        cur.execute("SELECT review_status, broadcast_status FROM competitions WHERE id = %s", (cid,))
        return dict(cur.fetchone())


def _broadcasts(pg):
    with pg.cursor() as cur:
        cur.execute("SELECT * FROM broadcasts ORDER BY id")
        return cur.fetchall()


def test_double_click_and_retried_request_send_one_message(
    admin_server, postgres, media_store, reviewer, waha
):
    cid = insert_record(postgres, media_store, poster=poster_bytes(1), title="Indonesia Tax Olympiade 2026",
                        levels=["SMA", "Mahasiswa"], registration_url="https://linktr.ee/indonesiataxolympiad")
    waha.latency_seconds = 0.3  # both clicks arrive while the first send is in flight
    client, token = login(admin_server.url, "rina", PASSWORD)
    second, token2 = login(admin_server.url, "rina", PASSWORD)

    def click(c, t):
        return c.post(f"/lomba/{cid}/setujui", data={"csrf_token": t}).status_code

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        codes = list(pool.map(lambda ct: click(*ct), [(client, token), (second, token2)]))
    assert codes == [303, 303]
    # a retried request later (e.g. the browser re-posting the form)
    assert click(client, token) == 303
    assert len(waha.delivered) == 1
    message = waha.delivered[0]
    assert message["chatId"] == CHANNEL
    assert "*Indonesia Tax Olympiade 2026*" in message["caption"]
    assert "https://linktr.ee/indonesiataxolympiad" in message["caption"]
    assert _status(postgres, cid) == {"review_status": "approved", "broadcast_status": "sent"}
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM events WHERE kind = 'review.approved'")
        assert cur.fetchone()["n"] == 1
    rows = _broadcasts(postgres)
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)]


def test_poster_variant_is_published_and_stored_next_to_original(
    postgres, media_store, whatsapp, review_targets, waha
):
    original = poster_bytes(7)
    cid = insert_record(postgres, media_store, poster=original, review_status="approved")
    outcome = broadcast_competition(postgres, media_store, whatsapp, review_targets, cid,
                                    today=TODAY)
    assert outcome.status == "sent"
    url = waha.delivered[0]["file"]["url"]
    with postgres.cursor() as cur:
        cur.execute("SELECT i.object_key, v.object_key AS variant FROM images i "
                    "JOIN image_variants v ON v.image_id = i.id")
        row = cur.fetchone()
    assert url == media_store.public_url(row["variant"])
    assert row["variant"].startswith(row["object_key"].rsplit(".", 1)[0] + ".v-")
    variant = media_store.get(row["variant"])
    assert variant != original and variant[:3] == b"\xff\xd8\xff"  # a JPEG that differs


def test_not_approved_or_expired_records_are_not_sent(postgres, media_store, whatsapp,
                                                      review_targets, waha):
    pending = insert_record(postgres)
    expired = insert_record(postgres, review_status="approved",
                            end_date=TODAY - timedelta(days=1))
    for cid in (pending, expired):
        outcome = broadcast_competition(postgres, media_store, whatsapp, review_targets, cid,
                                        today=TODAY)
        assert outcome.status == "skipped"
    assert waha.delivered == [] and _broadcasts(postgres) == []


def test_disabled_gateway_sends_nothing(postgres, media_store, review_targets, waha):
    cid = insert_record(postgres, review_status="approved")
    outcome = broadcast_competition(postgres, media_store, WhatsAppGateway(), review_targets, cid,
                                    today=TODAY)
    assert outcome.status == "skipped" and "belum dikonfigurasi" in outcome.message
    assert waha.calls == []


def test_definite_failure_can_be_retried_but_unknown_outcome_is_not(
    postgres, media_store, whatsapp, review_targets, waha
):
    cid = insert_record(postgres, review_status="approved")
    waha.fail_next("/api/sendText", status=500)
    first = broadcast_competition(postgres, media_store, whatsapp, review_targets, cid,
                                  today=TODAY)
    assert first.status == "failed" and "HTTP 500" in first.message
    assert _status(postgres, cid)["broadcast_status"] == "failed"
    second = broadcast_competition(postgres, media_store, whatsapp, review_targets, cid,
                                   today=TODAY)
    assert second.status == "sent"
    assert len(waha.delivered) == 1
    assert [(r["status"], r["attempts"]) for r in _broadcasts(postgres)] == [("sent", 2)]

    other = insert_record(postgres, review_status="approved")
    waha.fail_next("/api/sendText", hang_seconds=5)  # client gives up after 3 s
    timed_out = broadcast_competition(postgres, media_store, whatsapp, review_targets, other,
                                      today=TODAY)
    assert timed_out.status == "unknown"
    again = broadcast_competition(postgres, media_store, whatsapp, review_targets, other,
                                  today=TODAY)
    assert again.status == "already"
    assert len(waha.calls_to("/api/sendText")) == 3  # fail, ok, hang: never a 4th


def test_api_key_goes_in_header_and_wrong_key_fails(postgres, media_store, review_targets, waha):
    cid = insert_record(postgres, review_status="approved")
    wrong = WhatsAppGateway(base_url=waha.url, api_key="wrong", timeout_seconds=3)
    outcome = broadcast_competition(postgres, media_store, wrong, review_targets, cid, today=TODAY)
    assert outcome.status == "failed" and "401" in outcome.message
    assert "wrong" not in outcome.message


def test_review_group_notice_is_off_by_default_and_sent_once_when_on(
    postgres, whatsapp, review_targets, waha
):
    insert_record(postgres, title="KSAI 2026")
    assert notify_review_group(postgres, whatsapp, review_targets) == 0
    on = review_targets.model_copy(update={"whatsapp_notify_review_group": True})
    assert notify_review_group(postgres, whatsapp, on) == 1
    assert notify_review_group(postgres, whatsapp, on) == 0
    assert [m["chatId"] for m in waha.delivered] == [REVIEW_GROUP]
    assert "KSAI 2026" in waha.delivered[0]["text"]


def test_missing_poster_object_fails_clearly_and_can_be_retried(
    postgres, media_store, whatsapp, review_targets, waha
):
    poster = poster_bytes(9)
    cid = insert_record(postgres, media_store, poster=poster, review_status="approved")
    (key,) = media_store.list("posters/")
    media_store.delete(key)  # the object vanished (e.g. removed by hand)
    outcome = broadcast_competition(postgres, media_store, whatsapp, review_targets, cid,
                                    today=TODAY)
    assert outcome.status == "failed" and key in outcome.message
    assert waha.calls == []
    media_store.put(poster, "image/png")  # restored
    assert broadcast_competition(postgres, media_store, whatsapp, review_targets,
                                 cid, today=TODAY).status == "sent"
    assert len(waha.delivered) == 1


def test_variant_follows_the_config_file(postgres, media_store, whatsapp, review_settings,
                                         review_targets, waha, tmp_path):
    import io
    import shutil

    from PIL import Image

    config = tmp_path / "config"
    config.mkdir()
    shutil.copy(review_settings.config_dir / "whatsapp_caption.j2", config)
    (config / "poster_variant.yaml").write_text("frame_px: 40\nframe_color: '#000000'\nmax_side: 500\n")
    targets = review_targets.model_copy(update={"config_folder": str(config)})
    cid = insert_record(postgres, media_store, poster=poster_bytes(8), review_status="approved")
    assert broadcast_competition(postgres, media_store, whatsapp, targets, cid,
                                 today=TODAY).status == "sent"
    key = [k for k in media_store.list("posters/") if ".v-" in k][0]
    assert ".v-c20f40000000s500q88." in key
    with Image.open(io.BytesIO(media_store.get(key))) as img:
        assert max(img.size) == 500 and img.getpixel((5, 5)) == (0, 0, 0)

    (config / "poster_variant.yaml").write_text("frame_px: -3\n")
    other = insert_record(postgres, media_store, poster=poster_bytes(10), review_status="approved")
    outcome = broadcast_competition(postgres, media_store, whatsapp, targets, other, today=TODAY)
    assert outcome.status == "failed" and "poster_variant.yaml" in outcome.message


def test_a_person_settles_an_uncertain_broadcast(admin_server, postgres, reviewer, waha,
                                                 review_settings):
    from lomba_pipeline_tests.review.http_client import csrf_from, login

    channel = review_settings.whatsapp.channel_id
    on_channel = insert_record(postgres, review_status="approved")
    missing = insert_record(postgres, review_status="approved")
    with postgres.cursor() as cur:
        for cid in (on_channel, missing):
            cur.execute(
                "INSERT INTO broadcasts (competition_id, channel, idempotency_key, status, error)"
                " VALUES (%s, %s, %s, 'unknown', 'interrupted')",
                (cid, channel, f"publish:{cid}:{channel}"),
            )
    client, _ = login(admin_server.url, reviewer, PASSWORD)
    page = client.get(f"/lomba/{on_channel}").text
    assert "Pengiriman ke kanal tidak pasti" in page
    token = csrf_from(page)
    said_sent = client.post(f"/lomba/{on_channel}/siaran-tidak-pasti",
                            data={"csrf_token": token, "keputusan": "terkirim"})
    assert said_sent.status_code == 303
    resent = client.post(f"/lomba/{missing}/siaran-tidak-pasti",
                         data={"csrf_token": token, "keputusan": "kirim-ulang"})
    assert resent.status_code == 303
    again = client.post(f"/lomba/{missing}/siaran-tidak-pasti",
                        data={"csrf_token": token, "keputusan": "kirim-ulang"})
    assert again.status_code == 303
    with postgres.cursor() as cur:
        cur.execute("SELECT competition_id, status, attempts FROM broadcasts"
                    " ORDER BY competition_id")
        rows = {r["competition_id"]: (r["status"], r["attempts"]) for r in cur.fetchall()}
        cur.execute("SELECT kind, actor FROM events WHERE kind LIKE 'broadcast.decided%%'"
                    " ORDER BY id")
        decisions = [(r["kind"], r["actor"]) for r in cur.fetchall()]
    assert rows == {on_channel: ("sent", 1), missing: ("sent", 2)}
    # only the record the person said was missing went out, and only once
    assert len(waha.delivered) == 1
    assert decisions == [("broadcast.decided_sent", reviewer), ("broadcast.decided_resend", reviewer)]
    assert "Pengiriman ke kanal tidak pasti" not in client.get(f"/lomba/{missing}").text
