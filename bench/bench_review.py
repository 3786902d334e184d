"""Review-domain figures: duplicate-candidate refresh cost and review-queue page latency.

Run: .venv/bin/python bench/bench_review.py [N ...]   (default 1000 5000 records)
Uses the embedded PostgreSQL server with a throw-away database. Prints figures; asserts nothing.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import uuid
from datetime import date, timedelta

from psycopg2.extras import execute_values

from lomba_pipeline.db.migrations import apply_migrations
from lomba_pipeline.resources.postgres import (
    PostgresResource,
    close_all_pools,
    database_url,
    ensure_database,
    start_embedded_server,
)
from lomba_pipeline.settings import PROJECT_ROOT, get_settings

WORDS = ("olimpiade sains matematika esai poster fotografi debat hackathon business plan "
         "karya tulis ilmiah cerpen puisi desain ui ux videografi pidato kaligrafi robotik "
         "investasi pasar modal akuntansi hukum moot court film pendek").split()


def fill(pg: PostgresResource, n: int, rng: random.Random) -> None:
    today = date.today()
    with pg.connection() as conn, conn.cursor() as cur:
        images = [(f"{i:064x}", f"posters/{i:064x}.jpg", f"http://x/{i}.jpg", "image/jpeg", 1000,
                   f"{rng.getrandbits(64):016x}") for i in range(1, n + 1)]
        execute_values(cur, "INSERT INTO images (sha256, object_key, public_url, content_type, "
                            "size_bytes, phash) VALUES %s", images)
        raws = [("web", "bench", f"https://bench.test/{i}", i) for i in range(1, n + 1)]
        execute_values(cur, "INSERT INTO raw_items (source_kind, source_name, canonical_url, "
                            "image_id) VALUES %s", raws)
        rows = []
        for i in range(1, n + 1):
            title = " ".join(rng.sample(WORDS, 4)) + f" {2026 + i % 2}"
            rows.append((i, f"https://bench.test/{i}", title, f"deskripsi {i} " * 5,
                         today + timedelta(days=rng.randrange(200)), i,
                         f"https://bit.ly/reg{rng.randrange(n * 2)}"))
        execute_values(cur, "INSERT INTO competitions (raw_item_id, canonical_url, title, "
                            "description, end_date, image_id, registration_url) VALUES %s", rows)


def main(sizes: list[int]) -> None:
    from fastapi.testclient import TestClient

    from lomba_pipeline.admin.app import create_app
    from lomba_pipeline.admin.auth import create_user
    from lomba_pipeline.catalog.review.duplicates import refresh_duplicate_candidates
    from lomba_pipeline.resources.object_store import LocalObjectStore
    from lomba_pipeline.resources.whatsapp import WhatsAppGateway

    server_url = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg").get_uri()
    for n in sizes:
        name = f"lomba_bench_{uuid.uuid4().hex[:8]}"
        url = ensure_database(server_url, name)
        try:
            apply_migrations(url, get_settings().sql_dir)
            pg = PostgresResource(database_url=url)
            rng = random.Random(n)
            fill(pg, n, rng)
            timings = []
            t_all = time.perf_counter()
            for cid in range(1, n + 1):
                t0 = time.perf_counter()
                with pg.connection() as conn:
                    refresh_duplicate_candidates(conn, cid)
                timings.append((time.perf_counter() - t0) * 1000)
            total = time.perf_counter() - t_all
            with pg.cursor() as cur:
                cur.execute("SELECT count(*) AS n FROM duplicate_candidates")
                pairs = cur.fetchone()["n"]
            print(f"[{n} records] refresh_duplicate_candidates: median {statistics.median(timings):.1f} ms, "
                  f"p95 {sorted(timings)[int(len(timings) * .95)]:.1f} ms, all {total:.1f} s, "
                  f"{pairs} candidate pairs")
            with pg.connection() as conn:
                create_user(conn, "bench", "bench-password-1", "reviewer")
            app = create_app(get_settings(), pg, LocalObjectStore(root="/tmp/none",
                             public_base_url="http://x/media"), WhatsAppGateway())
            client = TestClient(app)
            import re
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]
            client.post("/login", data={"username": "bench", "password": "bench-password-1",
                                        "csrf_token": token})
            for path in ("/", "/lomba", "/lomba/1", "/api/v1/competitions?per_page=100"):
                lat = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    lat.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, (path, r.status_code)
                print(f"[{n} records] GET {path}: median {statistics.median(lat):.1f} ms "
                      f"({len(r.content) // 1024} KiB)")
        finally:
            close_all_pools()
            import psycopg2

            conn = psycopg2.connect(database_url(server_url, "postgres"))
            conn.autocommit = True
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.close()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 5000])
