"""Extraction shards in one process: several drains share the queue through claims, and the
graph-backed ``extracted_fields`` adds up what its shards did. (Shards on several machines:
deploy/test_celery_workers.py.)"""

import threading

import dagster as dg
import pytest

from lomba_pipeline.catalog.extraction.assets import competitions, extracted_fields
from lomba_pipeline.catalog.extraction.runner import build_extractor, run_extraction
from lomba_pipeline.catalog.extraction.shards import shard_limits
from lomba_pipeline.resources.ai import AiConfig, AiResource
from lomba_pipeline_tests.fakes.ai_providers import FakeAiProviders

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def fake():
    with FakeAiProviders(latency_seconds=0.05) as server:
        yield server


def queue_items(postgres, n: int) -> list[int]:
    with postgres.cursor() as cur:
        ids = []
        for i in range(n):
            cur.execute(
                "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, "
                "posted_at) VALUES ('web', 'infolomba.id', %s, %s, '2025-12-01') RETURNING id",
                (f"https://infolomba.id/event/s{i:03d}",
                 f"LOMBA ESAI item-{i:03d}\nPendaftaran: 1 - 20 Januari 2026"),
            )
            ids.append(cur.fetchone()["id"])
        return ids


def ledger_rows_per_item(postgres) -> dict[int, int]:
    with postgres.cursor() as cur:
        cur.execute("SELECT raw_item_id, count(*) AS n FROM extraction_attempts "
                    "WHERE provider = 'zhipu' GROUP BY 1")
        return {r["raw_item_id"]: r["n"] for r in cur.fetchall()}


def test_two_drains_at_once_never_take_the_same_item(postgres, local_store, fake):
    fake.calls.clear()
    ids = queue_items(postgres, 40)
    config = AiConfig(zhipu_api_key="k", zhipu_base_url=fake.zhipu_base_url,
                      requests_per_minute=0, concurrency=3, backoff_seconds=0.01)
    summaries = []
    both_ready = threading.Barrier(2)

    def drain():
        extractor = build_extractor(config, "zhipu", local_store)
        both_ready.wait()  # two runs (or two machines' shards) start together
        summaries.append(run_extraction(postgres, extractor, workers=3))

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(s.extracted for s in summaries) == 40
    assert all(s.extracted > 0 for s in summaries)  # both drains worked
    assert len(fake.calls_to("/chat/completions")) == 40
    assert ledger_rows_per_item(postgres) == {i: 1 for i in ids}


def test_a_run_with_three_shards_reports_the_sum_of_its_shards(postgres, local_store, fake):
    fake.calls.clear()
    queue_items(postgres, 12)
    ai = AiResource(zhipu_api_key="k", zhipu_base_url=fake.zhipu_base_url,
                    extraction_provider="zhipu", requests_per_minute=0, backoff_seconds=0.01)
    result = dg.materialize(
        [extracted_fields, competitions],
        resources={"postgres": postgres, "object_store": local_store, "ai": ai},
        selection=[extracted_fields],
        run_config={"ops": {"extracted_fields": {"ops": {
            "plan_extraction": {"config": {"shards": 3}}}}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("extracted_fields")[0].metadata
    assert meta["shards"].value == 3
    assert (meta["pending"].value, meta["extracted"].value, meta["ai_calls"].value) == (12, 12, 12)
    assert meta["summary_line"].value.startswith("extraction (zhipu): 12 records")
    assert meta["shard_workers"].value.count("| 1_of_3 |") == 1
    assert len(fake.calls_to("/chat/completions")) == 12


def test_shards_share_the_providers_per_key_limits():
    config = AiConfig(requests_per_minute=60, concurrency=4)
    assert shard_limits(config, 1) == config
    quarter = shard_limits(config, 4)
    assert (quarter.requests_per_minute, quarter.concurrency) == (15, 1)
    assert shard_limits(AiConfig(requests_per_minute=0), 4).requests_per_minute == 0  # no limit
