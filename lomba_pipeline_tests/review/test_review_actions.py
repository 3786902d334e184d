"""Review actions through the panel: each is one event with who and before → after."""

from datetime import date

import pytest

from lomba_pipeline.catalog.review.actions import ReviewError, mark_duplicate
from lomba_pipeline.db.events import list_events
from lomba_pipeline_tests.review.conftest import PASSWORD, insert_record
from lomba_pipeline_tests.review.http_client import login

pytestmark = pytest.mark.timeout(120)


def _row(pg, cid):
    with pg.cursor() as cur:
        cur.execute("SELECT * FROM competitions WHERE id = %s", (cid,))
        return cur.fetchone()


def test_bad_input_names_the_field_and_changes_nothing(admin_server, postgres, reviewer):
    cid = insert_record(postgres, title="Lomba Debat", fee_amount=50000)
    client, token = login(admin_server.url, "rina", PASSWORD)
    response = client.post(f"/lomba/{cid}/ubah", data={
        "csrf_token": token, "title": "Lomba Debat Nasional", "end_date": "31/12/2026",
    })
    assert response.status_code == 303
    page = client.get(f"/lomba/{cid}").text
    assert "Batas pendaftaran: tanggal tidak valid &#39;31/12/2026&#39;" in page
    assert _row(postgres, cid)["title"] == "Lomba Debat"  # the valid title was not half-saved
    with postgres.connection() as conn:
        assert list_events(conn, kind_prefix="review.") == []


def test_edit_records_before_and_after_and_provenance(admin_server, postgres, reviewer):
    # a fixed deadline that differs from the edited one (it once defaulted to today + 30 days,
    # which equals 2026-12-31 when the test runs on 1 December)
    cid = insert_record(postgres, title="Lomba Debat", fee_amount=50000, levels=["SMA"],
                        end_date=date(2026, 11, 30))
    client, token = login(admin_server.url, "rina", PASSWORD)
    client.post(f"/lomba/{cid}/ubah", data={
        "csrf_token": token, "title": "Lomba Debat", "fee_amount": "Rp 75.000",
        "levels": ["SMA", "Mahasiswa"], "end_date": "2026-12-31",
    })
    row = _row(postgres, cid)
    assert (row["fee_amount"], row["levels"], row["end_date"]) == (75000, ["SMA", "Mahasiswa"],
                                                                  date(2026, 12, 31))
    assert row["extracted_from"]["fee_amount"] == "manual:rina"
    assert row["extracted_from"]["title"] == "zhipu"  # unchanged field keeps its provider
    with postgres.connection() as conn:
        (event,) = list_events(conn, kind_prefix="review.edited")
    assert event["actor"] == "rina" and event["subject"] == f"competition:{cid}"
    assert event["data"]["before"] == {"fee_amount": 50000, "levels": ["SMA"],
                                       "end_date": "2026-11-30"}
    assert event["data"]["after"] == {"fee_amount": 75000, "levels": ["SMA", "Mahasiswa"],
                                      "end_date": "2026-12-31"}
    # the same form again is not a change and writes no event
    client.post(f"/lomba/{cid}/ubah", data={
        "csrf_token": token, "title": "Lomba Debat", "fee_amount": "75000",
        "levels": ["SMA", "Mahasiswa"], "end_date": "2026-12-31",
    })
    with postgres.connection() as conn:
        assert len(list_events(conn, kind_prefix="review.edited")) == 1


def test_reject_and_mark_duplicate(admin_server, postgres, reviewer):
    a = insert_record(postgres, title="Olimpiade Sains Nusantara", end_date=date(2026, 12, 1))
    b = insert_record(postgres, title="OLIMPIADE SAINS NUSANTARA", end_date=date(2026, 12, 2))
    c = insert_record(postgres, title="Giveaway 13K followers")
    client, token = login(admin_server.url, "rina", PASSWORD)
    queue = client.get("/").text
    assert f"Duplikat dari #{a}" in queue and "judul mirip" in queue
    client.post(f"/lomba/{b}/duplikat", data={"csrf_token": token, "original_id": str(a)})
    client.post(f"/lomba/{c}/tolak", data={"csrf_token": token, "note": "bukan lomba"})
    assert (_row(postgres, b)["review_status"], _row(postgres, b)["duplicate_of"]) == ("duplicate", a)
    assert _row(postgres, c)["review_status"] == "rejected"
    queue = client.get("/").text
    assert f'id="record-{c}"' not in queue and f'id="record-{a}"' in queue
    events = client.get("/peristiwa?kind=review.&actor=rina").text
    assert "review.marked_duplicate" in events and "review.rejected" in events
    assert "bukan lomba" in events
    only_c = client.get(f"/peristiwa?subject=competition:{c}").text
    assert "review.rejected" in only_c and "review.marked_duplicate" not in only_c


def test_duplicate_chains_point_at_the_record_that_stays(postgres):
    a, b, c = (insert_record(postgres) for _ in range(3))
    with postgres.connection() as conn:
        mark_duplicate(conn, b, a, actor="rina")
        mark_duplicate(conn, c, b, actor="rina")  # b is itself a duplicate of a
        with pytest.raises(ReviewError, match="lingkaran"):
            mark_duplicate(conn, a, c, actor="rina")
        with pytest.raises(ReviewError, match="dirinya sendiri"):
            mark_duplicate(conn, a, a, actor="rina")
    assert _row(postgres, c)["duplicate_of"] == a


def test_approve_without_title_is_refused(admin_server, postgres, reviewer, waha):
    cid = insert_record(postgres, title=None)
    client, token = login(admin_server.url, "rina", PASSWORD)
    client.post(f"/lomba/{cid}/setujui", data={"csrf_token": token})
    assert "judul masih kosong" in client.get(f"/lomba/{cid}").text
    assert _row(postgres, cid)["review_status"] == "pending" and waha.delivered == []
