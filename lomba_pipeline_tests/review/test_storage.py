"""Records CRUD keeps R2 (moto's S3 server) and Postgres consistent, and gc cleans up."""

import pytest

from lomba_pipeline.catalog.review.broadcast import broadcast_competition
from lomba_pipeline.catalog.review.storage import collect_garbage, delete_record, replace_poster
from lomba_pipeline.media.images import InvalidImage
from lomba_pipeline_tests.review.conftest import PASSWORD, TODAY, insert_record, poster_bytes
from lomba_pipeline_tests.review.http_client import login

pytestmark = pytest.mark.timeout(120)


def _image_keys(pg) -> set[str]:
    with pg.cursor() as cur:
        cur.execute("SELECT object_key FROM images")
        return {r["object_key"] for r in cur.fetchall()}


def _assert_consistent(pg, store):
    """Every referenced object exists; every stored poster object is referenced."""
    with pg.cursor() as cur:
        cur.execute("SELECT object_key FROM images UNION ALL SELECT object_key FROM image_variants")
        referenced = {r["object_key"] for r in cur.fetchall()}
    assert referenced == set(store.list("posters/"))


def test_delete_removes_poster_only_when_unused(postgres, r2_store):
    shared = poster_bytes(11)
    a = insert_record(postgres, r2_store, poster=shared)
    b = insert_record(postgres, r2_store, poster=shared)  # same bytes → one image, one object
    own = insert_record(postgres, r2_store, poster=poster_bytes(12))
    assert len(r2_store.list("posters/")) == 2
    shared_key = next(k for k in _image_keys(postgres) if r2_store.get(k) == shared)

    result = delete_record(postgres, r2_store, a, actor="bos")
    assert result.removed_objects == []
    assert r2_store.exists(shared_key)
    _assert_consistent(postgres, r2_store)

    result = delete_record(postgres, r2_store, b, actor="bos")
    assert result.removed_objects == [shared_key]
    assert not r2_store.exists(shared_key)
    _assert_consistent(postgres, r2_store)

    with postgres.cursor() as cur:
        cur.execute("SELECT id FROM competitions")
        assert [r["id"] for r in cur.fetchall()] == [own]
        cur.execute("SELECT count(*) AS n FROM raw_items")
        assert cur.fetchone()["n"] == 1
        cur.execute("SELECT kind, data FROM events WHERE kind = 'record.deleted' ORDER BY id")
        events = cur.fetchall()
    assert [e["data"]["objects_removed"] for e in events] == [[], [shared_key]]


def test_delete_also_removes_the_published_variant(postgres, r2_store, whatsapp, review_targets,
                                                   waha):
    cid = insert_record(postgres, r2_store, poster=poster_bytes(13), review_status="approved")
    assert broadcast_competition(postgres, r2_store, whatsapp, review_targets, cid,
                                 today=TODAY).status == "sent"
    assert len(r2_store.list("posters/")) == 2  # original + variant
    delete_record(postgres, r2_store, cid, actor="bos")
    assert r2_store.list("posters/") == []
    _assert_consistent(postgres, r2_store)


def test_replace_uploads_new_and_removes_old(postgres, r2_store):
    old, new = poster_bytes(21), poster_bytes(22)
    cid = insert_record(postgres, r2_store, poster=old)
    (old_key,) = _image_keys(postgres)
    result = replace_poster(postgres, r2_store, cid, new, actor="rina", filename="baru.png")
    assert r2_store.get(result.new_key) == new
    assert result.removed_objects == [old_key] and not r2_store.exists(old_key)
    with postgres.cursor() as cur:
        cur.execute("SELECT c.image_id = r.image_id AS same, i.object_key FROM competitions c "
                    "JOIN raw_items r ON r.id = c.raw_item_id JOIN images i ON i.id = c.image_id")
        row = cur.fetchone()
    assert row == {"same": True, "object_key": result.new_key}
    _assert_consistent(postgres, r2_store)


def test_replace_keeps_old_poster_that_another_record_uses(postgres, r2_store):
    shared = poster_bytes(31)
    cid = insert_record(postgres, r2_store, poster=shared)
    insert_record(postgres, r2_store, poster=shared)
    result = replace_poster(postgres, r2_store, cid, poster_bytes(32), actor="rina",
                            filename="x.png")
    assert result.removed_objects == []
    assert len(r2_store.list("posters/")) == 2
    _assert_consistent(postgres, r2_store)


def test_replace_with_a_non_image_changes_nothing(postgres, r2_store):
    cid = insert_record(postgres, r2_store, poster=poster_bytes(41))
    before = r2_store.list("posters/")
    with pytest.raises(InvalidImage, match="catatan.txt"):
        replace_poster(postgres, r2_store, cid, b"bukan gambar", actor="rina", filename="catatan.txt")
    assert r2_store.list("posters/") == before
    _assert_consistent(postgres, r2_store)


def test_gc_lists_then_removes_orphans_and_keeps_everything_used(postgres, r2_store):
    used = insert_record(postgres, r2_store, poster=poster_bytes(51))
    orphan = r2_store.put(poster_bytes(52), "image/png").key  # uploaded, never recorded
    with postgres.connection() as conn:
        from lomba_pipeline.catalog.review.storage import store_image

        unused_row = store_image(conn, r2_store, poster_bytes(53), source="x")  # row, no record
        with conn.cursor() as cur:
            cur.execute("UPDATE images SET created_at = now() - interval '2 hours' WHERE id = %s",
                        (unused_row["id"],))
    # within the grace period nothing is touched (an ingestion run may be mid-way)
    fresh = collect_garbage(postgres, r2_store, dry_run=True)
    assert fresh.orphaned == [] and fresh.unused_images == [unused_row["id"]]

    dry = collect_garbage(postgres, r2_store, dry_run=True, grace_seconds=0)
    assert sorted(dry.orphaned) == sorted([orphan, unused_row["object_key"]])
    assert len(r2_store.list("posters/")) == 3  # dry run removed nothing

    done = collect_garbage(postgres, r2_store, dry_run=False, grace_seconds=0)
    assert sorted(done.removed) == sorted(dry.orphaned)
    assert len(r2_store.list("posters/")) == 1
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM images")
        assert cur.fetchone()["n"] == 1
        cur.execute("SELECT image_id FROM competitions WHERE id = %s", (used,))
        assert cur.fetchone()["image_id"] is not None
    _assert_consistent(postgres, r2_store)


def test_admin_upload_and_delete_through_the_panel(admin_server, postgres, media_store, reviewer):
    cid = insert_record(postgres, media_store, poster=poster_bytes(61))
    client, token = login(admin_server.url, "rina", PASSWORD)
    response = client.post(f"/lomba/{cid}/poster", data={"csrf_token": token},
                           files={"file": ("baru.png", poster_bytes(62), "image/png")})
    assert response.status_code == 303
    page = client.get(f"/lomba/{cid}").text
    assert "Poster diganti (1 objek lama dihapus)" in page
    (key,) = _image_keys(postgres)
    poster = client.get("/media/" + key)
    assert poster.status_code == 200 and poster.content == poster_bytes(62)
    bad = client.post(f"/lomba/{cid}/poster", data={"csrf_token": token},
                      files={"file": ("virus.exe", b"MZ\x90\x00", "image/png")})
    assert bad.status_code == 303
    assert "virus.exe: not an image" in client.get(f"/lomba/{cid}").text
    assert _image_keys(postgres) == {key}
    boss, boss_token = login(admin_server.url, "bos", PASSWORD)
    assert boss.post(f"/lomba/{cid}/hapus", data={"csrf_token": boss_token}).status_code == 303
    assert media_store.list("posters/") == [] and _image_keys(postgres) == set()
    assert client.get("/media/" + key).status_code == 404
    assert client.get("/media/../secret").status_code == 404
