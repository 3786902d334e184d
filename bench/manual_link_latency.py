"""Benchmark: a submitted Instagram link → its record in the review queue, through the daemon.

``lomba dev`` (webserver + daemon, Postgres instance, production sensor intervals) with the fake
Instagram; ``lomba links add``; then only Dagster's sensors and automation move the link on.
Prints the seconds from submission to each asset's materialization, median of ``--rounds``
(goal: review state ≤ 90 s).

    .venv/bin/python bench/manual_link_latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import psycopg2

    from lomba_pipeline.db.migrations import apply_migrations
    from lomba_pipeline.resources.postgres import (
        close_all_pools,
        database_url,
        ensure_database,
        start_embedded_server,
    )
    from lomba_pipeline.settings import PROJECT_ROOT, get_settings
    from lomba_pipeline_tests.manual_link_flow import CHAIN, run_manual_link_through_daemon

    server = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg").get_uri()
    results = []
    for n in range(args.rounds):
        suffix = uuid.uuid4().hex[:8]
        app, dagster = f"lomba_bench_{suffix}", f"dagster_bench_{suffix}"
        os.environ.update({
            "LOMBA_HOME": tempfile.mkdtemp(prefix="lomba_bench_"),
            "LOMBA_DATABASE_URL": ensure_database(server, app),
            "LOMBA_DAGSTER_DATABASE_URL": ensure_database(server, dagster),
        })
        get_settings.cache_clear()
        apply_migrations(os.environ["LOMBA_DATABASE_URL"], get_settings().sql_dir)
        try:
            flow = run_manual_link_through_daemon()
            results.append(flow.materialized_at)
            print(f"round {n + 1}: " + ", ".join(f"{a} {flow.materialized_at[a]:.1f}s"
                                                for a in CHAIN), flush=True)
        finally:
            close_all_pools()
            conn = psycopg2.connect(database_url(server, "postgres"))
            conn.autocommit = True
            with conn.cursor() as cur:
                for name in (app, dagster):
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.close()
    print(f"\nmedian of {len(results)} rounds, seconds after `lomba links add`:")
    for asset in CHAIN:
        print(f"  {asset:<24} {statistics.median(r[asset] for r in results):6.1f}")
    print("  goal: reviewed_competitions ≤ 90 s")


if __name__ == "__main__":
    main()
