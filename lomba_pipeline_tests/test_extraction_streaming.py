"""Streaming writes: kill ``lomba extract-pending`` halfway (SIGKILL, a real crash) → the records
finished before the kill are in Postgres, and a re-run completes the rest without calling the
provider again for the finished ones."""

import os
import signal
import subprocess
import sys
import time

import pytest

from lomba_pipeline_tests.fakes.ai_providers import FakeAiProviders

ITEMS = 10


def _count(postgres) -> set[str]:
    with postgres.cursor() as cur:
        cur.execute("SELECT canonical_url FROM competitions WHERE extraction_status = 'done'")
        return {r["canonical_url"] for r in cur.fetchall()}


def _marker(url: str) -> str:
    return "item-" + url.rstrip("/").rsplit("/", 1)[1]


@pytest.mark.timeout(180)
def test_killed_run_keeps_finished_records_and_rerun_skips_them(postgres, tmp_path):
    with postgres.cursor() as cur:
        for i in range(ITEMS):
            cur.execute(
                "INSERT INTO raw_items (source_kind, source_name, canonical_url, caption, posted_at)"
                " VALUES ('web', 'infolomba.id', %s, %s, '2025-12-01')",
                (f"https://infolomba.id/{i:02d}", f"LOMBA ESAI item-{i:02d}\n"
                 "Pendaftaran: 1 - 20 Januari 2026"),
            )
    with FakeAiProviders(latency_seconds=0.3) as fake:
        env = {**os.environ, "ZHIPUAI_API_KEY": "test-zhipu-key",
               "LOMBA_ZHIPU_BASE_URL": fake.zhipu_base_url, "LOMBA_AI_CONCURRENCY": "1",
               "LOMBA_EXTRACTION_PROVIDER": "chain"}
        cmd = [sys.executable, "-m", "lomba_pipeline.cli", "extract-pending"]
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while len(_count(postgres)) < 3:
            assert first.poll() is None, first.stdout.read().decode()
            assert time.monotonic() < deadline, "no record was written in time"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        finished = _count(postgres)
        assert 3 <= len(finished) < ITEMS
        calls_in_first_run = len(fake.calls_to("/chat/completions"))

        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        second_calls = fake.calls_to("/chat/completions")[calls_in_first_run:]

    assert len(_count(postgres)) == ITEMS
    asked_again = {c.json()["messages"][1]["content"].split("item-")[1][:2] for c in second_calls}
    assert not {_marker(url)[5:] for url in finished} & asked_again
    assert len(second_calls) == ITEMS - len(finished)  # at most the one in flight was lost
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM competitions")
        assert cur.fetchone()["n"] == ITEMS
        cur.execute("SELECT count(*) AS n FROM raw_items WHERE needs_extraction")
        assert cur.fetchone()["n"] == 0
    assert f"extraction (chain): {ITEMS - len(finished)} records" in second.stdout
