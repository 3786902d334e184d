"""The panel while an outside system is down: the database (503 page in Bahasa Indonesia) and
the object store during a poster replace or a delete (a clear message, nothing stored is lost)."""

import uuid

import httpx
import pytest
from moto.server import ThreadedMotoServer

from lomba_pipeline.admin.app import create_app
from lomba_pipeline.catalog.review.storage import collect_garbage
from lomba_pipeline.resources.object_store import R2ObjectStore
from lomba_pipeline.resources.postgres import PostgresResource
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.review.conftest import (
    PASSWORD,
    FrozenClock,
    LiveServer,
    insert_record,
    poster_bytes,
)
from lomba_pipeline_tests.review.http_client import csrf_from, login
from lomba_pipeline_tests.review.pg_cut import PostgresDoor

pytestmark = pytest.mark.timeout(180)
DOWN_TEXT = "Basis data sedang tidak dapat dihubungi"


def serve(settings, postgres, store, whatsapp, port) -> LiveServer:
    clock = FrozenClock()
    return LiveServer(create_app(settings, postgres, store, whatsapp, clock=clock), port,
                      clock).start()


def _row(pg, cid):
    with pg.cursor() as cur:
        cur.execute("SELECT review_status, image_id FROM competitions WHERE id = %s", (cid,))
        row = cur.fetchone()
        return dict(row) if row else None


# -- database ----------------------------------------------------------------------------------

@pytest.fixture
def door(postgres):
    door = PostgresDoor(postgres.url)
    yield door
    door.close()


def test_database_down_shows_a_503_page_and_the_session_survives(
    door, postgres, media_store, whatsapp, review_settings, admin_port, reviewer
):
    server = serve(review_settings, PostgresResource(database_url=door.url, max_connections=4),
                   media_store, whatsapp, admin_port)
    try:
        cid = insert_record(postgres, title="Lomba Debat")
        client, token = login(server.url, "rina", PASSWORD)
        anon = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
        login_token = csrf_from(anon.get("/login").text)
        door.cut()
        answers = {
            "queue": client.get("/"),
            "record": client.get(f"/lomba/{cid}"),
            "approve": client.post(f"/lomba/{cid}/setujui", data={"csrf_token": token}),
            "login": anon.post("/login", data={"username": "rina", "password": PASSWORD,
                                               "csrf_token": login_token}),
        }
        for what, response in answers.items():
            assert response.status_code == 503, what
            assert DOWN_TEXT in response.text and "Traceback" not in response.text, what
            assert response.headers["retry-after"], what
        api = anon.get("/api/v1/competitions",
                       headers={"Authorization": "Bearer catalog-token-for-tests"})
        assert api.status_code == 503 and DOWN_TEXT in api.json()["error"]
        assert anon.get("/health").status_code == 503
        assert anon.get("/login").status_code == 200  # the form itself needs no database

        door.restore()
        assert client.get(f"/lomba/{cid}").status_code == 200  # same session, nothing lost
        assert _row(postgres, cid)["review_status"] == "pending"  # the refused click did nothing
        assert client.post(f"/lomba/{cid}/setujui", data={"csrf_token": token}).status_code == 303
        assert _row(postgres, cid)["review_status"] == "approved"
    finally:
        server.stop()


# -- object store ------------------------------------------------------------------------------

class Moto:
    """A moto S3 server of this test only, that can be stopped and started on the same port
    (moto keeps its buckets in the process, so objects survive the restart like R2's do)."""

    def __init__(self):
        self.port = free_port()
        self.server = None

    def start(self):
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self):
        self.server.stop()


@pytest.fixture
def outage_store():
    from dagster_aws.s3 import S3Resource

    moto = Moto()
    moto.start()
    s3 = S3Resource(endpoint_url=f"http://127.0.0.1:{moto.port}", region_name="us-east-1",
                    aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"posters-{uuid.uuid4().hex[:8]}"
    s3.get_client().create_bucket(Bucket=bucket)
    store = R2ObjectStore(s3=s3, bucket=bucket, public_base_url="https://media.example.test")
    yield moto, store
    moto.stop()


def flash_after(client, response) -> str:
    assert response.status_code == 303, response.text[:300]
    return client.get(response.headers["location"]).text


def test_poster_replace_during_an_object_store_outage_changes_nothing(
    outage_store, postgres, whatsapp, review_settings, admin_port, reviewer
):
    moto, store = outage_store
    old_poster = poster_bytes(301)
    cid = insert_record(postgres, store, poster=old_poster)
    (old_key,) = store.list("posters/")
    before = _row(postgres, cid)
    server = serve(review_settings, postgres, store, whatsapp, admin_port)
    try:
        client, token = login(server.url, "rina", PASSWORD)
        moto.stop()
        response = client.post(f"/lomba/{cid}/poster", data={"csrf_token": token},
                               files={"file": ("baru.png", poster_bytes(302), "image/png")})
        page = flash_after(client, response)
        assert "Poster tidak diganti: penyimpanan poster tidak dapat dihubungi" in page
        assert "poster lama tetap dipakai" in page
        assert _row(postgres, cid) == before
        with postgres.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM images")
            assert cur.fetchone()["n"] == 1
            cur.execute("SELECT count(*) AS n FROM events WHERE kind LIKE 'record.%%'")
            assert cur.fetchone()["n"] == 0

        moto.start()  # back: the old poster is still there, and the replace now works
        assert store.list("posters/") == [old_key] and store.get(old_key) == old_poster
        response = client.post(f"/lomba/{cid}/poster", data={"csrf_token": token},
                               files={"file": ("baru.png", poster_bytes(302), "image/png")})
        assert "Poster diganti (1 objek lama dihapus)." in flash_after(client, response)
        assert old_key not in store.list("posters/")
    finally:
        server.stop()


def test_delete_during_an_object_store_outage_leaves_the_object_for_gc(
    outage_store, postgres, whatsapp, review_settings, admin_port, reviewer
):
    moto, store = outage_store
    cid = insert_record(postgres, store, poster=poster_bytes(303))
    server = serve(review_settings, postgres, store, whatsapp, admin_port)
    try:
        boss, token = login(server.url, "bos", PASSWORD)
        moto.stop()
        page = flash_after(boss, boss.post(f"/lomba/{cid}/hapus", data={"csrf_token": token}))
        assert f"#{cid} dihapus (0 objek dihapus)" in page
        assert "lomba storage gc" in page
        assert _row(postgres, cid) is None  # the delete the person asked for stands
    finally:
        server.stop()
    moto.start()
    (orphan,) = store.list("posters/")
    report = collect_garbage(postgres, store, dry_run=False, grace_seconds=0)
    assert report.removed == [orphan] and store.list("posters/") == []
