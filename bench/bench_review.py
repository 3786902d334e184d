"""Review-domain figures: duplicate-candidate refresh cost and review-queue page latency.

Run: .venv/bin/python bench/bench_review.py [N ...] [--rounds 5] [--sample 40] [--baseline main]
     (default sizes 1000 5000 20000; add 50000 for the large-catalog figure)

Each size gets a throw-away database on the embedded PostgreSQL server, filled with distinct
synthetic records at a realistic duplicate rate (about 15% are aggregator reposts of an earlier
record: same link typed differently, a hype title, a deadline a day off, a re-encoded poster).
Per round, the same random sample of records is refreshed by the current code and by the
baseline (``duplicates.py`` as it is at the git ref ``--baseline``, loaded beside it), in
alternating order; figures are the median over rounds of each round's per-record median.
Both must find the same candidates for the sample; a difference is printed. Asserts nothing.
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

DUPLICATES_PATH = "lomba_pipeline/catalog/review/duplicates.py"
FIRST_DEADLINE = date(2026, 12, 1)  # fixed: the figures must not depend on the day they run
DUPLICATE_RATE = 0.15
UNDATED_RATE = 0.10

KINDS = ("lomba", "olimpiade", "kompetisi", "festival", "national", "kejuaraan", "liga", "")
SUBJECTS = ("sains matematika esai poster fotografi debat hackathon business plan karya tulis "
            "ilmiah cerpen puisi desain ui ux videografi pidato kaligrafi robotik investasi "
            "pasar modal akuntansi hukum moot court film pendek fisika kimia biologi ekonomi "
            "geografi sejarah bahasa inggris arab jepang coding data science olahraga futsal "
            "basket catur esports tari vokal band musik teater mural komik animasi startup "
            "inovasi teknologi lingkungan kesehatan gizi farmasi arsitektur sipil").split()
THEMES = ("hari pahlawan", "sumpah pemuda", "hari guru", "dies natalis", "bulan bahasa",
          "hari kartini", "hari bumi", "kemerdekaan", "", "", "", "")


def _acronym(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(3, 6)))


def _base_record(i: int, rng: random.Random) -> dict:
    org = _acronym(rng)
    subject = " ".join(rng.sample(SUBJECTS, rng.randrange(1, 4)))
    title = " ".join(w for w in (rng.choice(KINDS), subject, rng.choice(THEMES), org.upper(),
                                 str(2026 + i % 2)) if w)
    undated = rng.random() < UNDATED_RATE
    return {
        "title": title.title(),
        "description": (f"{title} diselenggarakan oleh {org.upper()} untuk pelajar dan mahasiswa. "
                        f"Tema: {rng.choice(SUBJECTS)} {rng.choice(SUBJECTS)} {_acronym(rng)}. "
                        f"Hadiah total {rng.randrange(1, 50)} juta rupiah."),
        "end_date": None if undated else FIRST_DEADLINE + timedelta(days=rng.randrange(365)),
        "registration_url": (f"https://bit.ly/{org}-{i}" if rng.random() < 0.7 else None),
        "phash": rng.getrandbits(64),
    }


def _repost(base: dict, rng: random.Random) -> dict:
    """How aggregators repost a record: some of its keys kept, typed differently."""
    flipped = base["phash"]
    for bit in rng.sample(range(64), rng.randrange(0, 5)):
        flipped ^= 1 << bit
    shifted = base["end_date"] and base["end_date"] + timedelta(days=rng.randrange(-2, 3))
    variant = rng.randrange(3)
    return {
        "title": (f"🔥 {base['title'].upper()} IS BACK!" if variant != 1
                  else f"Info lomba terbaru {rng.choice(SUBJECTS)}"),
        "description": base["description"] if variant == 2 else f"Repost {rng.random()}",
        "end_date": shifted if rng.random() < 0.8 else None,
        "registration_url": (base["registration_url"] and base["registration_url"] + "/"
                             if variant == 0 else None),
        "phash": flipped if variant != 0 else rng.getrandbits(64),
    }


def fill(pg: PostgresResource, n: int, rng: random.Random) -> None:
    records: list[dict] = []
    for i in range(1, n + 1):
        if records and rng.random() < DUPLICATE_RATE:
            records.append(_repost(rng.choice(records), rng))
        else:
            records.append(_base_record(i, rng))
    with pg.connection() as conn, conn.cursor() as cur:
        execute_values(cur, "INSERT INTO images (sha256, object_key, public_url, content_type, "
                            "size_bytes, phash) VALUES %s",
                       [(f"{i:064x}", f"posters/{i:064x}.jpg", f"http://x/{i}.jpg", "image/jpeg",
                         1000, f"{r['phash']:016x}") for i, r in enumerate(records, 1)],
                       page_size=2000)
        execute_values(cur, "INSERT INTO raw_items (source_kind, source_name, canonical_url, "
                            "image_id) VALUES %s",
                       [("web", "bench", f"https://bench.test/{i}", i) for i in range(1, n + 1)],
                       page_size=2000)
        execute_values(cur, "INSERT INTO competitions (raw_item_id, canonical_url, title, "
                            "description, end_date, image_id, registration_url) VALUES %s",
                       [(i, f"https://bench.test/{i}", r["title"], r["description"], r["end_date"],
                         i, r["registration_url"]) for i, r in enumerate(records, 1)],
                       page_size=2000)


def vacuum_analyze(url: str) -> None:
    """What autovacuum does in production after a bulk load (the keying rewrote every row)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        conn.cursor().execute("VACUUM ANALYZE")
    finally:
        conn.close()


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
                     public_base_url="http://x/media"), WhatsAppGateway())
    client = TestClient(app)
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
            with pg.connection() as conn:
                keyed = duplicates.update_stale_keys(conn)
            print(f"[{n} records] one-time keying of {keyed} records (after migration 015): "
                  f"{time.perf_counter() - t0:.1f} s")
            vacuum_analyze(url)
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
