"""Review-domain figures: duplicate-candidate refresh cost and review-queue page latency.

Run: .venv/bin/python bench/bench_review.py [N ...] [--rounds 5] [--sample 40] [--baseline main]
     (default sizes 1000 5000 20000; add 50000 for the large-catalog figure)

Each size gets a throw-away database on the embedded PostgreSQL server, filled with distinct
synthetic records at a realistic duplicate rate and review mix (``catalog_fill.py``: about 15%
aggregator reposts; 70% approved), so the catalog API pages through approved records.
Per round, the same random sample of records is refreshed by the current code and by the
baseline (``duplicates.py`` as it is at the git ref ``--baseline``, loaded beside it), in
alternating order; figures are the median over rounds of each round's per-record median.
Both must find the same candidates for the sample; a difference is printed. The admin pages and
the catalog API (``/api/v1/competitions``: approved, still open; first page, a deep page, a
level filter, a deadline range) are then timed, median of 10 requests each, with "today" fixed
before the first synthetic deadline. Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import time
import types
import uuid
from datetime import UTC, datetime

from catalog_fill import FIRST_DEADLINE, fill, key_and_vacuum

from lomba_pipeline.db.migrations import apply_migrations
from lomba_pipeline.resources.postgres import (
    PostgresResource,
    close_all_pools,
    database_url,
    ensure_database,
    start_embedded_server,
)
from lomba_pipeline.settings import PROJECT_ROOT, get_settings

DUPLICATES_PATH = "lomba_pipeline/catalog/review/duplicates.py"
# "today" for the API: the day before the first synthetic deadline, so every dated record is open
API_TODAY = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def load_baseline(ref: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{ref}:{DUPLICATES_PATH}"], cwd=PROJECT_ROOT,
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("duplicates_at_" + re.sub(r"\W", "_", ref))
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{ref}:{DUPLICATES_PATH}", "exec"), module.__dict__)  # noqa: S102
    return module


def time_refreshes(pg, refresh, ids) -> tuple[list[float], dict[int, set[int]]]:
    timings, found = [], {}
    for cid in ids:
        t0 = time.perf_counter()
        with pg.connection() as conn:
            candidates = refresh(conn, cid)
        timings.append((time.perf_counter() - t0) * 1000)
        found[cid] = {c.other_id for c in candidates}
    return timings, found


def bench_refresh(pg, n, impls, rounds, sample, rng) -> None:
    per_round = {name: [] for name in impls}
    p95 = {name: [] for name in impls}
    differences = 0
    for name, module in impls.items():  # warm: the baseline's feature cache fills here
        t0 = time.perf_counter()
        with pg.connection() as conn:
            module.refresh_duplicate_candidates(conn, 1)
        print(f"[{n} records] {name}: first refresh {(time.perf_counter() - t0) * 1000:.0f} ms "
              "(warm-up, not counted)")
    for r in range(rounds):
        ids = rng.sample(range(1, n + 1), min(sample, n))
        order = list(impls) if r % 2 == 0 else list(reversed(impls))
        found = {}
        for name in order:
            timings, found[name] = time_refreshes(pg, impls[name].refresh_duplicate_candidates, ids)
            per_round[name].append(statistics.median(timings))
            p95[name].append(sorted(timings)[int(len(timings) * .95)])
        if len(found) == 2:
            a, b = found.values()
            differences += sum(a[cid] != b[cid] for cid in ids)
    medians = {}
    for name in impls:
        medians[name] = statistics.median(per_round[name])
        print(f"[{n} records] {name}: refresh_duplicate_candidates median "
              f"{medians[name]:.2f} ms per record (p95 {statistics.median(p95[name]):.2f} ms; "
              f"{rounds} rounds × {min(sample, n)} records)")
    if len(impls) == 2:
        base, new = medians.values()
        print(f"[{n} records] speed-up {base / new:.1f}×; records whose candidates differ: "
              f"{differences}")
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM duplicate_candidates")
        print(f"[{n} records] {cur.fetchone()['n']} candidate pairs stored by the sampled refreshes")


def bench_pages(pg, n) -> None:
    from fastapi.testclient import TestClient

    from lomba_pipeline.admin.app import create_app
    from lomba_pipeline.admin.auth import create_user
    from lomba_pipeline.resources.object_store import LocalObjectStore
    from lomba_pipeline.resources.whatsapp import WhatsAppGateway

    with pg.connection() as conn:
        create_user(conn, "bench", "bench-password-1", "reviewer")
    app = create_app(get_settings(), pg, LocalObjectStore(root="/tmp/none",
                     public_base_url="http://x/media"), WhatsAppGateway(),
                     clock=lambda: API_TODAY)
    client = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]
    client.post("/login", data={"username": "bench", "password": "bench-password-1",
                                "csrf_token": token})
    with pg.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE review_status = 'approved') AS approved, "
                    "count(*) FILTER (WHERE review_status = 'pending') AS pending "
                    "FROM competitions")
        counts = cur.fetchone()
    print(f"[{n} records] {counts['approved']} approved, {counts['pending']} pending review")
    deep = max(1, counts["approved"] // 100 // 2)
    paths = ("/", "/lomba", "/lomba/1", "/api/v1/competitions?per_page=100",
             f"/api/v1/competitions?per_page=100&page={deep}",
             "/api/v1/competitions?level=SMA&per_page=20",
             f"/api/v1/competitions?deadline_from={FIRST_DEADLINE}"
             f"&deadline_to={FIRST_DEADLINE.replace(month=12, day=31)}&per_page=20")
    for path in paths:
        lat = []
        for _ in range(10):
            t0 = time.perf_counter()
            r = client.get(path)
            lat.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, (path, r.status_code)
        total = f", total {r.json()['total']}" if path.startswith("/api/") else ""
        print(f"[{n} records] GET {path}: median {statistics.median(lat):.1f} ms "
              f"({len(r.content) // 1024} KiB{total})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 5000, 20000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample", type=int, default=40, help="records refreshed per round")
    parser.add_argument("--baseline", default="main",
                        help="git ref of the duplicates.py to compare with ('' for none)")
    parser.add_argument("--no-pages", action="store_true", help="skip the page latencies")
    args = parser.parse_args()

    from lomba_pipeline.catalog.review import duplicates

    impls = {"current": duplicates}
    if args.baseline:
        impls = {f"baseline {args.baseline}": load_baseline(args.baseline), "current": duplicates}
    server_url = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg").get_uri()
    for n in args.sizes:
        name = f"lomba_bench_{uuid.uuid4().hex[:8]}"
        url = ensure_database(server_url, name)
        try:
            apply_migrations(url, get_settings().sql_dir)
            pg = PostgresResource(database_url=url)
            rng = random.Random(n)
            t0 = time.perf_counter()
            fill(pg, n, rng)
            print(f"[{n} records] filled in {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            keyed = key_and_vacuum(pg, url)
            print(f"[{n} records] one-time keying of {keyed} records (after migration 015) "
                  f"and VACUUM ANALYZE: {time.perf_counter() - t0:.1f} s")
            bench_refresh(pg, n, impls, args.rounds, args.sample, rng)
            if not args.no_pages:
                bench_pages(pg, n)
        finally:
            close_all_pools()
            import psycopg2

            conn = psycopg2.connect(database_url(server_url, "postgres"))
            conn.autocommit = True
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.close()


if __name__ == "__main__":
    main()
