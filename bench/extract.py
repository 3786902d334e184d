"""Extraction throughput: 200 new records through the chain against fake providers with a fixed
300 ms latency and a concurrency bound of 8, then a second pass over the same records.

Prints wall time against the ideal bound (AI calls × latency / concurrency), AI calls against
the calls the scenario makes necessary (goal exactly 1.00), the estimated cost from the ledger,
and the calls of the second pass (must be zero: complete records are never sent again).

Half of the text replies leave organizer and levels empty, so those records go on to poster OCR;
a quarter of those OCR replies hold only image placeholders, so they fall back to Gemini.
Necessary calls of this scenario: one text call per new record, one OCR call per record whose
key fields are still empty after the text step and the rules, one Gemini call per OCR failure.
The requests-per-minute limit is switched off here: it would dominate the wall time.

Run: .venv/bin/python bench/extract.py
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lomba_pipeline.catalog.extraction.runner import build_extractor, run_extraction  # noqa: E402
from lomba_pipeline.db.migrations import apply_migrations  # noqa: E402
from lomba_pipeline.resources.ai import AiConfig  # noqa: E402
from lomba_pipeline.resources.object_store import LocalObjectStore  # noqa: E402
from lomba_pipeline.resources.postgres import (  # noqa: E402
    PostgresResource,
    database_url,
    ensure_database,
    start_embedded_server,
)
from lomba_pipeline.settings import PROJECT_ROOT  # noqa: E402
from lomba_pipeline_tests.fakes.ai_providers import DEFAULT_RECORD, FakeAiProviders  # noqa: E402

RECORDS = 200
LATENCY = 0.3
CONCURRENCY = 8


def number_in(text: str) -> int:
    return int(text.split("item-")[1][:3])


def text_leaves_gaps(i: int) -> bool:
    return i % 2 == 1


def ocr_fails(i: int) -> bool:
    return i % 8 == 1


def necessary_calls() -> dict[str, int]:
    gaps = [i for i in range(RECORDS) if text_leaves_gaps(i)]
    return {"zhipu": RECORDS, "mistral": len(gaps), "gemini": sum(ocr_fails(i) for i in gaps)}


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


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    server = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg")
    name = f"lomba_bench_{uuid.uuid4().hex[:8]}"
    url = ensure_database(server.get_uri(), name)
    apply_migrations(url, PROJECT_ROOT / "sql")
    postgres = PostgresResource(database_url=url, max_connections=CONCURRENCY + 4)
    store = LocalObjectStore(root=tempfile.mkdtemp(prefix="bench_media_"),
                             public_base_url="https://media.example.test")
    with postgres.cursor() as cur:
        for i in range(RECORDS):
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
                concurrency=CONCURRENCY, requests_per_minute=0, backoff_seconds=0.05,
            )
            extractor = build_extractor(config, "chain", store, "auto")
            first = run_extraction(postgres, extractor, workers=CONCURRENCY)
            ideal = first.ai_calls * LATENCY / CONCURRENCY
            with postgres.cursor() as cur:  # ingestion sees all 200 URLs again
                cur.execute("UPDATE raw_items SET needs_extraction = true")
            calls_before = len(fake.calls)
            started = time.monotonic()
            second = run_extraction(postgres, extractor, workers=CONCURRENCY)
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

    print(f"records:                 {RECORDS} (latency {LATENCY * 1000:.0f} ms, concurrency {CONCURRENCY})")
    print(f"first pass wall time:    {first.wall_seconds:.2f} s")
    print(f"AI calls:                {first.ai_calls} ({dict(first.calls)})")
    print(f"ideal bound:             {ideal:.2f} s (calls × latency / concurrency)")
    print(f"wall / ideal:            {first.wall_seconds / ideal:.3f}")
    necessary = necessary_calls()
    print(f"necessary calls:         {sum(necessary.values())} ({necessary})")
    print(f"AI calls / necessary:    {first.ai_calls / sum(necessary.values()):.2f} (goal 1.00)")
    print(f"AI calls per record:     {first.ai_calls / RECORDS:.3f}")
    print(f"OCR pages:               {first.ocr_pages}")
    print(f"estimated cost:          ${first.cost_usd:.4f} (price table in settings)")
    print(f"max calls in flight:     {max_in_flight}")
    print(f"statuses:                {dict(first.statuses)}")
    print(f"tokens:                  {first.prompt_tokens} prompt + {first.completion_tokens} completion")
    print(f"re-run AI calls:         {second.ai_calls} (goal 0)")
    print(f"second pass:             {second.ai_calls} AI calls, {second_http} HTTP requests, "
          f"{second.skipped_complete} complete skipped, {second_wall:.2f} s")


if __name__ == "__main__":
    main()
