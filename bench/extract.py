"""Extraction throughput at production settings, on catalogs of 0 / 5,000 / 20,000 / 50,000
records; ``--fast`` gives the old figures (no per-minute limit, identical records, empty catalog).

Production settings (the default): the AI configuration production runs with (settings'
defaults: 4 calls in flight per provider, 60 requests per minute per provider, 4 attempts), the
fake providers (real SDKs over HTTP) answering after 300 ms. Each catalog size has its own
database, bulk-filled once with distinct synthetic records (``catalog_fill.py``: ~15% aggregator
reposts, 70% approved), keyed for the duplicate search and vacuumed. Per round and size, RECORDS
(default 24) new distinct records are queued, about 15% of them reposts of a catalog record (or,
on the empty catalog, of an earlier new one), and drained by ``run_extraction`` as the asset's
one shard does. Rounds alternate the order of sizes (0→50k, then 50k→0, ...).

Scenario per new record, as before: half the text replies leave organizer and levels empty, so
those records go on to poster OCR; an eighth of those OCR replies hold only image placeholders,
so they fall back to Gemini. Necessary calls: one text call per record, one OCR call per gap,
one Gemini call per OCR failure.

Ideal bound per run: max(all calls × latency / threads, max over providers of
(calls − 1) × 60 s / RPM + latency): the drain's threads (one per allowed call in flight) take
each record through its whole chain, and a provider's calls cannot start faster than its
per-minute limit allows. Printed per size: the median over rounds of
wall ÷ ideal, and the median over rounds of each round's (size ÷ empty catalog) ratio (goal at
20k and 50k: ≤ 1.2).

Default run: 4 sizes × 5 rounds × 24 records at 60/min ≈ 20 × 24 s + filling ≈ 9 min.

Run: .venv/bin/python bench/extract.py [--records 24] [--rounds 5] [--sizes 0 5000 20000 50000]
                                      [--requests-per-minute 60]
     .venv/bin/python bench/extract.py --fast
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import logging
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog_fill import FIRST_DEADLINE, fill, key_and_vacuum, records, repost  # noqa: E402

from lomba_pipeline.catalog.extraction.runner import build_extractor, run_extraction  # noqa: E402
from lomba_pipeline.db.migrations import apply_migrations  # noqa: E402
from lomba_pipeline.resources.ai import AiConfig  # noqa: E402
from lomba_pipeline.resources.object_store import LocalObjectStore  # noqa: E402
from lomba_pipeline.resources.postgres import (  # noqa: E402
    PostgresResource,
    close_all_pools,
    database_url,
    ensure_database,
    start_embedded_server,
)
from lomba_pipeline.settings import PROJECT_ROOT  # noqa: E402
from lomba_pipeline_tests.fakes.ai_providers import DEFAULT_RECORD, FakeAiProviders  # noqa: E402

LATENCY = 0.3
PRODUCTION = AiConfig()  # the defaults production runs with (settings: LOMBA_AI_*)
SIZES = (0, 5000, 20000, 50000)
MARKER = re.compile(r"item-([a-z0-9]+)")


# -- production settings ------------------------------------------------------------------------
class Scenario:
    """What each new record's fake replies say, by the marker in its caption and poster."""

    def __init__(self):
        self.replies: dict[str, dict] = {}

    def add(self, tag: str, index: int, record: dict) -> dict:
        full = {"title": record["title"], "organizer": record["organizer"],
                "start_date": "2026-11-01",
                "end_date": record["end_date"].isoformat() if record["end_date"] else None,
                "categories": record["categories"], "levels": record["levels"]}
        gaps = index % 2 == 1
        text = {k: v for k, v in full.items() if k not in ("organizer", "levels")} if gaps else full
        entry = {"text": text, "ocr_fails": gaps and index % 8 == 1, "record": record}
        self.replies[tag] = entry
        return entry

    def install(self, fake: FakeAiProviders) -> None:
        def text(message: str) -> str:
            return json.dumps(self.replies[MARKER.search(message)[1]]["text"])

        def ocr(url: str):
            entry = self.replies[MARKER.search(base64.b64decode(url.split(",", 1)[1]).decode())[1]]
            if entry["ocr_fails"]:
                return "![img-0.jpeg](img-0.jpeg)", None
            return (f"# {entry['record']['title'].upper()}\n\nPenyelenggara: "
                    f"{entry['record']['organizer']}\n\nKhusus Mahasiswa", None)

        fake.zhipu_reply, fake.ocr_reply = text, ocr

    def necessary(self, tags: list[str]) -> dict[str, int]:
        entries = [self.replies[t] for t in tags]
        gaps = [e for e in entries if "organizer" not in e["text"]]
        return {"zhipu": len(entries), "mistral": len(gaps),
                "gemini": sum(e["ocr_fails"] for e in gaps)}


def ideal_seconds(calls: dict[str, int], config: AiConfig, latency: float) -> float:
    """Calls cannot start faster than each provider's per-minute limit allows, and the drain's
    threads (one per allowed call in flight, each taking a record through its whole chain)
    cannot do more than ``workers`` calls at a time."""
    spacing = 60.0 / config.requests_per_minute if config.requests_per_minute else 0.0
    bounds = [sum(calls.values()) * latency / max(1, config.concurrency)]
    bounds += [(n - 1) * spacing + latency for n in calls.values() if n]
    return max(bounds)


class Catalog:
    """One catalog size: its database, its bulk-filled records, its poster store."""

    def __init__(self, server_url: str, size: int, config: AiConfig):
        self.size, self.name = size, f"lomba_bench_{uuid.uuid4().hex[:8]}"
        self.url = ensure_database(server_url, self.name)
        apply_migrations(self.url, PROJECT_ROOT / "sql")
        self.pg = PostgresResource(database_url=self.url, max_connections=config.concurrency + 4)
        self.store = LocalObjectStore(root=tempfile.mkdtemp(prefix="bench_media_"),
                                      public_base_url="https://media.example.test")
        self.rng = random.Random(size)
        started = time.perf_counter()
        self.records = fill(self.pg, size, self.rng) if size else []
        keyed = key_and_vacuum(self.pg, self.url) if size else 0
        print(f"[catalog {size:>6}] filled and keyed ({keyed}) in "
              f"{time.perf_counter() - started:.1f} s")

    def queue(self, scenario: Scenario, round_no: int, n: int) -> list[str]:
        """Queue ``n`` new distinct records, ~15% reposts; returns their markers."""
        batch = records(n, self.rng, start=10_000_000 + round_no * n)
        tags = []
        with self.pg.cursor() as cur:
            for i, record in enumerate(batch):
                if self.records and self.rng.random() < 0.15:
                    record = repost(self.rng.choice(self.records), self.rng)
                tag = f"s{self.size}r{round_no}n{i:03d}"
                scenario.add(tag, i, record)
                stored = self.store.put(f"poster item-{tag}".encode(), "image/png")
                cur.execute(
                    "INSERT INTO images (sha256, object_key, public_url, content_type, size_bytes)"
                    " VALUES (%s,%s,%s,'image/png',%s) RETURNING id",
                    (stored.sha256, stored.key, stored.public_url, stored.size))
                cur.execute(
                    "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, "
                    "posted_at, image_id) VALUES ('ig', 'bench', %s, %s, '2026-11-01', %s)",
                    (f"https://www.instagram.com/p/{tag}/",
                     f"{record['title']} item-{tag}\nDeadline "
                     f"{(record['end_date'] or FIRST_DEADLINE).strftime('%d/%m/%Y')}",
                     cur.fetchone()["id"]))
                tags.append(tag)
        return tags

    def drop(self, server_url: str) -> None:
        import psycopg2

        conn = psycopg2.connect(database_url(server_url, "postgres"))
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        conn.close()


def in_process_caches() -> list[str]:
    """Every functools cache of the project's loaded modules, with its bound."""
    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("lomba_pipeline"):
            continue
        for attr, value in vars(module).items():
            info = getattr(value, "cache_info", None)
            if callable(info) and getattr(value, "__module__", None) == name:
                found.append(f"{name}.{attr} (maxsize {info().maxsize}, holds {info().currsize})")
    return found


def production_main(args) -> None:
    config = dataclasses.replace(PRODUCTION, requests_per_minute=args.requests_per_minute)
    server_url = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg").get_uri()
    print(f"settings: {config.concurrency} calls in flight and {config.requests_per_minute} "
          f"requests/min per provider, {config.max_attempts} attempts, fake latency "
          f"{LATENCY * 1000:.0f} ms; {args.records} new records per round, {args.rounds} rounds, "
          f"catalog sizes {args.sizes}")
    catalogs = [Catalog(server_url, size, config) for size in args.sizes]
    scenario = Scenario()
    ratios: dict[int, list[float]] = {c.size: [] for c in catalogs}  # wall / ideal
    walls: dict[int, list[float]] = {c.size: [] for c in catalogs}
    ideals: dict[int, list[float]] = {c.size: [] for c in catalogs}
    calls_ratio: dict[int, list[float]] = {c.size: [] for c in catalogs}
    candidates: dict[int, list[int]] = {c.size: [] for c in catalogs}
    try:
        with FakeAiProviders(latency_seconds=LATENCY) as fake:
            scenario.install(fake)
            ai = AiConfig(zhipu_api_key="k", zhipu_base_url=fake.zhipu_base_url,
                          mistral_api_key="k", mistral_base_url=fake.url,
                          gemini_api_key="k", gemini_base_url=fake.url,
                          concurrency=config.concurrency,
                          requests_per_minute=config.requests_per_minute,
                          max_attempts=config.max_attempts, backoff_seconds=config.backoff_seconds)
            for round_no in range(args.rounds):
                order = catalogs if round_no % 2 == 0 else list(reversed(catalogs))
                for catalog in order:
                    tags = catalog.queue(scenario, round_no, args.records)
                    extractor = build_extractor(ai, "chain", catalog.store, "auto")  # fresh limits
                    summary = run_extraction(catalog.pg, extractor, workers=ai.concurrency)
                    ideal = ideal_seconds(dict(summary.calls), ai, LATENCY)
                    necessary = sum(scenario.necessary(tags).values())
                    with catalog.pg.cursor() as cur:
                        cur.execute("SELECT count(DISTINCT c.id) AS n FROM competitions c "
                                    "JOIN duplicate_candidates d ON c.id IN (d.competition_id, d.candidate_id) "
                                    "WHERE c.canonical_url LIKE %s",
                                    (f"https://www.instagram.com/p/s{catalog.size}r{round_no}n%",))
                        candidates[catalog.size].append(cur.fetchone()["n"])
                    walls[catalog.size].append(summary.wall_seconds)
                    ideals[catalog.size].append(ideal)
                    ratios[catalog.size].append(summary.wall_seconds / ideal)
                    calls_ratio[catalog.size].append(summary.ai_calls / necessary)
                    print(f"round {round_no + 1} catalog {catalog.size:>6}: wall "
                          f"{summary.wall_seconds:6.2f} s, ideal {ideal:6.2f} s, wall/ideal "
                          f"{summary.wall_seconds / ideal:.3f}, AI calls {dict(summary.calls)} "
                          f"({summary.ai_calls / necessary:.2f} of necessary), "
                          f"statuses {dict(summary.statuses)}", flush=True)
    finally:
        close_all_pools()
        for catalog in catalogs:
            catalog.drop(server_url)

    base = catalogs[0].size
    print()
    print(f"{'catalog':>8} | {'wall s':>7} | {'ideal s':>7} | {'wall/ideal':>10} | "
          f"{'÷ catalog ' + str(base):>12} | calls/necessary | new records with candidates")
    for catalog in catalogs:
        n = catalog.size
        relative = [ratios[n][r] / ratios[base][r] for r in range(args.rounds)]
        print(f"{n:>8} | {statistics.median(walls[n]):7.2f} | {statistics.median(ideals[n]):7.2f}"
              f" | {statistics.median(ratios[n]):10.3f} | {statistics.median(relative):12.3f} | "
              f"{statistics.median(calls_ratio[n]):15.2f} | "
              f"{statistics.median(candidates[n]):.0f} of {args.records}")
    print(f"(medians over {args.rounds} alternating rounds; goal for the ÷ column at 20k and 50k: "
          "≤ 1.2)")
    caches = in_process_caches()
    print("in-process caches of the project after the runs: " + ("; ".join(caches) or "none"))


# -- --fast: the old figures ----------------------------------------------------------------------
FAST_RECORDS = 200
FAST_CONCURRENCY = 8


def number_in(text: str) -> int:
    return int(text.split("item-")[1][:3])


def text_leaves_gaps(i: int) -> bool:
    return i % 2 == 1


def ocr_fails(i: int) -> bool:
    return i % 8 == 1


def necessary_calls() -> dict[str, int]:
    gaps = [i for i in range(FAST_RECORDS) if text_leaves_gaps(i)]
    return {"zhipu": FAST_RECORDS, "mistral": len(gaps), "gemini": sum(ocr_fails(i) for i in gaps)}


def script(fake: FakeAiProviders) -> None:
    partial = {k: v for k, v in DEFAULT_RECORD.items() if k not in ("organizer", "levels")}
    fake.zhipu_reply = lambda text: json.dumps(
        partial if text_leaves_gaps(number_in(text)) else DEFAULT_RECORD
    )

    def ocr(url: str):
        poster = base64.b64decode(url.split(",", 1)[1]).decode()
        if ocr_fails(number_in(poster)):
            return "![img-0.jpeg](img-0.jpeg)", None
        return ("# LOMBA ESAI\n\nPenyelenggara: BEM FH UI\n\nKhusus Mahasiswa\n\n"
                "Pendaftaran: 1 - 20 Januari 2026", None)

    fake.ocr_reply = ocr


def fast_main() -> None:
    """The old figures: no per-minute limit, 200 identical records, an empty catalog."""
    server = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg")
    name = f"lomba_bench_{uuid.uuid4().hex[:8]}"
    url = ensure_database(server.get_uri(), name)
    apply_migrations(url, PROJECT_ROOT / "sql")
    postgres = PostgresResource(database_url=url, max_connections=FAST_CONCURRENCY + 4)
    store = LocalObjectStore(root=tempfile.mkdtemp(prefix="bench_media_"),
                             public_base_url="https://media.example.test")
    with postgres.cursor() as cur:
        for i in range(FAST_RECORDS):
            stored = store.put(f"poster item-{i:03d}".encode(), "image/png")
            cur.execute(
                "INSERT INTO images (sha256, object_key, public_url, content_type, size_bytes) "
                "VALUES (%s,%s,%s,'image/png',%s) RETURNING id",
                (stored.sha256, stored.key, stored.public_url, stored.size),
            )
            image_id = cur.fetchone()["id"]
            cur.execute(
                "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, "
                "posted_at, image_id) VALUES ('ig', 'bench', %s, %s, '2025-12-01', %s)",
                (f"https://www.instagram.com/p/bench{i:03d}/",
                 f"LOMBA ESAI item-{i:03d}\nPendaftaran: 1 - 20 Januari 2026", image_id),
            )
    try:
        with FakeAiProviders(latency_seconds=LATENCY) as fake:
            script(fake)
            config = AiConfig(
                zhipu_api_key="k", zhipu_base_url=fake.zhipu_base_url,
                mistral_api_key="k", mistral_base_url=fake.url,
                gemini_api_key="k", gemini_base_url=fake.url,
                concurrency=FAST_CONCURRENCY, requests_per_minute=0, backoff_seconds=0.05,
            )
            extractor = build_extractor(config, "chain", store, "auto")
            first = run_extraction(postgres, extractor, workers=FAST_CONCURRENCY)
            ideal = first.ai_calls * LATENCY / FAST_CONCURRENCY
            with postgres.cursor() as cur:  # ingestion sees all 200 URLs again
                cur.execute("UPDATE raw_items SET needs_extraction = true")
            calls_before = len(fake.calls)
            started = time.monotonic()
            second = run_extraction(postgres, extractor, workers=FAST_CONCURRENCY)
            second_wall = time.monotonic() - started
            second_http = len(fake.calls) - calls_before
            max_in_flight = fake.max_in_flight
    finally:
        import psycopg2

        from lomba_pipeline.resources.postgres import close_all_pools

        close_all_pools()
        conn = psycopg2.connect(database_url(server.get_uri(), "postgres"))
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()

    print(f"records:                 {FAST_RECORDS} (latency {LATENCY * 1000:.0f} ms, concurrency {FAST_CONCURRENCY})")
    print(f"first pass wall time:    {first.wall_seconds:.2f} s")
    print(f"AI calls:                {first.ai_calls} ({dict(first.calls)})")
    print(f"ideal bound:             {ideal:.2f} s (calls × latency / concurrency)")
    print(f"wall / ideal:            {first.wall_seconds / ideal:.3f}")
    necessary = necessary_calls()
    print(f"necessary calls:         {sum(necessary.values())} ({necessary})")
    print(f"AI calls / necessary:    {first.ai_calls / sum(necessary.values()):.2f} (goal 1.00)")
    print(f"AI calls per record:     {first.ai_calls / FAST_RECORDS:.3f}")
    print(f"OCR pages:               {first.ocr_pages}")
    print(f"estimated cost:          ${first.cost_usd:.4f} (price table in settings)")
    print(f"max calls in flight:     {max_in_flight}")
    print(f"statuses:                {dict(first.statuses)}")
    print(f"tokens:                  {first.prompt_tokens} prompt + {first.completion_tokens} completion")
    print(f"re-run AI calls:         {second.ai_calls} (goal 0)")
    print(f"second pass:             {second.ai_calls} AI calls, {second_http} HTTP requests, "
          f"{second.skipped_complete} complete skipped, {second_wall:.2f} s")


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true",
                        help="the old figures: no per-minute limit, 200 identical records")
    parser.add_argument("--records", type=int, default=24, help="new records per round and size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--requests-per-minute", type=int,
                        default=PRODUCTION.requests_per_minute,
                        help="per provider (production: 60); 0 lifts the limit, so the write "
                        "path's share of the wall time shows")
    args = parser.parse_args()
    if args.fast:
        fast_main()
    else:
        production_main(args)


if __name__ == "__main__":
    main()
