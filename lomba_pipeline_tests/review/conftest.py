"""Shared pieces for the review tests: records inserted by SQL, posters, a live admin server.

Time is frozen: the admin server runs on ``FrozenClock`` (``admin_server.clock``) at ``FROZEN_NOW``,
and records default to a deadline 30 days after ``TODAY``, so no test depends on the date it runs.
"""

from __future__ import annotations

import dataclasses
import io
import random
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import uvicorn
from PIL import Image, ImageDraw

from lomba_pipeline.catalog.review.storage import store_image
from lomba_pipeline.resources.object_store import LocalObjectStore
from lomba_pipeline.resources.whatsapp import WhatsAppGateway, whatsapp_targets_from_settings
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.fakes.waha import FakeWaha

CHANNEL = "120363000000000001@newsletter"
REVIEW_GROUP = "120363000000000002@g.us"
PASSWORD = "kata-sandi-uji-123"
FROZEN_NOW = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta
TODAY = date(2026, 6, 15)  # FROZEN_NOW's date in Jakarta
DEFAULT_END_DATE = TODAY + timedelta(days=30)


class FrozenClock:
    """The admin panel's clock in tests: stands still until a test moves it."""

    def __init__(self, now: datetime = FROZEN_NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def poster_bytes(seed: int, size=(600, 800), fmt="PNG", quality=90) -> bytes:
    """A synthetic poster: blocks and lines from ``seed`` (different seeds → different phash)."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(60, 300), y0 + rng.randrange(60, 300)
        draw.rectangle((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    img.save(out, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()


def reencoded(data: bytes, scale=0.8, quality=70) -> bytes:
    """The same picture as an aggregator re-posts it: resized and re-compressed."""
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB").resize((int(img.width * scale), int(img.height * scale)))
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=quality)
        return out.getvalue()


_counter = iter(range(1, 10**9))


def insert_record(pg, store=None, *, poster: bytes | None = None, source_kind="web",
                  source_name="infolomba.id", canonical_url=None, **fields) -> int:
    """A raw item + competition row, as the ingestion and extraction stages would leave them."""
    n = next(_counter)
    canonical_url = canonical_url or f"https://example.test/lomba/{n}"
    fields.setdefault("title", f"Lomba uji {n}")
    fields.setdefault("end_date", DEFAULT_END_DATE)
    fields.setdefault("extracted_from", {"title": "zhipu", "end_date": "rules"})
    with pg.connection() as conn:
        image_id = None
        if poster is not None:
            image_id = store_image(conn, store, poster, source=f"poster-{n}")["id"]
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO raw_items (source_kind, source_name, canonical_url, title, image_id) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (source_kind, source_name, canonical_url, fields.get("title"), image_id),
            )
            raw_id = cur.fetchone()[0]
            import json

            columns = ["raw_item_id", "canonical_url", "image_id", "extraction_status"]
            values = [raw_id, canonical_url, image_id, "done"]
            for key, value in fields.items():
                columns.append(key)
                values.append(json.dumps(value) if key == "extracted_from" else value)
            cur.execute(
                f"INSERT INTO competitions ({', '.join(columns)}) "
                f"VALUES ({', '.join(['%s'] * len(values))}) RETURNING id",
                values,
            )
            cid = cur.fetchone()[0]
        from lomba_pipeline.catalog.review.duplicates import refresh_duplicate_candidates

        refresh_duplicate_candidates(conn, cid)
    return cid


@pytest.fixture
def waha():
    with FakeWaha(api_key="waha-test-key") as fake:
        yield fake


@pytest.fixture
def review_settings(settings, waha, tmp_path):
    return dataclasses.replace(
        settings,
        whatsapp=dataclasses.replace(
            settings.whatsapp, waha_url=waha.url, waha_api_key="waha-test-key",
            channel_id=CHANNEL, review_group_id=REVIEW_GROUP,
        ),
        admin=dataclasses.replace(
            settings.admin, secret_key_env="test-session-signing-key-" + "x" * 20,
            catalog_api_token="catalog-token-for-tests",
        ),
    )


@pytest.fixture
def review_targets(review_settings):
    """Where broadcasts go: the same resource ``definitions.py`` builds from settings."""
    return whatsapp_targets_from_settings(review_settings)


@pytest.fixture
def whatsapp(review_settings):
    return WhatsAppGateway(base_url=review_settings.whatsapp.waha_url, api_key="waha-test-key",
                           timeout_seconds=3)


class LiveServer:
    def __init__(self, app, port, clock: FrozenClock | None = None):
        self.url = f"http://127.0.0.1:{port}"
        self.app = app
        self.clock = clock
        # as `lomba admin` runs it: the app alone decides whether X-Forwarded-For is believed
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                access_log=False, lifespan="off", proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self):
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            assert time.time() < deadline, "admin server did not start"
            time.sleep(0.02)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def admin_port():
    return free_port()


@pytest.fixture
def media_store(tmp_path, admin_port):
    """The local store, served by the admin panel itself (the default deployment)."""
    return LocalObjectStore(root=str(tmp_path / "media"),
                            public_base_url=f"http://127.0.0.1:{admin_port}/media")


@pytest.fixture
def admin_server(postgres, media_store, whatsapp, review_settings, admin_port):
    from lomba_pipeline.admin.app import create_app

    clock = FrozenClock()
    app = create_app(review_settings, postgres, media_store, whatsapp, clock=clock)
    server = LiveServer(app, admin_port, clock).start()
    yield server
    server.stop()


@pytest.fixture
def reviewer(postgres):
    from lomba_pipeline.admin.auth import create_user

    with postgres.connection() as conn:
        create_user(conn, "rina", PASSWORD, "reviewer")
        create_user(conn, "bos", PASSWORD, "admin")
    return "rina"
