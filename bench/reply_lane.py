"""Benchmark lane A: one tick for 10 accounts x 50 new comments, fake Instagram latency 100 ms.

Prints the time of the sensor check, of the replies (10 accounts in parallel, as the run queue
runs one run per account), of one account's run through Dagster, and replies per second,
against the ideal bound (calls that must be sequential x latency).

    .venv/bin/python bench/reply_lane.py [--latency 0.1] [--accounts 10] [--comments 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# the fake Instagram lives with the tests
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--comments", type=int, default=50)
    args = parser.parse_args()

    from lomba_pipeline.resources.postgres import (
        PostgresResource,
        database_url,
        ensure_database,
        start_embedded_server,
    )
    from lomba_pipeline.settings import PROJECT_ROOT, get_settings

    home = Path(tempfile.mkdtemp(prefix="lomba_bench_"))
    server = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg").get_uri()
    name = f"lomba_bench_{uuid.uuid4().hex[:8]}"
    url = ensure_database(server, name)
    os.environ.update({"LOMBA_HOME": str(home), "LOMBA_DATABASE_URL": url})
    get_settings.cache_clear()
    postgres = PostgresResource(database_url=url)
    postgres.migrate()
    try:
        run(args, postgres, home)
    finally:
        from lomba_pipeline.resources.postgres import close_all_pools

        close_all_pools()
        import psycopg2

        conn = psycopg2.connect(database_url(server, "postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def run(args, postgres, home: Path) -> None:
    import dagster as dg
    import yaml

    from lomba_pipeline.ig_ops import lanes
    from lomba_pipeline.ig_ops.accounts import import_accounts, list_accounts
    from lomba_pipeline.ig_ops.automation import ig_reply_sensor
    from lomba_pipeline.ig_ops.clock import IgClock
    from lomba_pipeline.ig_ops.jobs import ACCOUNT_TAG, ig_reply_job
    from lomba_pipeline.ig_ops.spec import apply_spec, load_spec_file
    from lomba_pipeline.resources.ai import AiResource
    from lomba_pipeline.resources.instagram_ops import InstagramOpsResource
    from lomba_pipeline.resources.object_store import LocalObjectStore
    from lomba_pipeline.secrets_box import encryption_key_from_settings, secret_box_from_settings
    from lomba_pipeline.settings import PROJECT_ROOT, get_settings
    from lomba_pipeline_tests.fakes.fake_ig_ops import FakeIgOps

    accounts = [f"ig_{i:03d}" for i in range(1, args.accounts + 1)]
    with FakeIgOps() as fake:
        entries = []
        for account in accounts:
            pk = str(1000 + int(account[-3:]))
            fake.add_user(pk, f"op.{account}")
            os.environ[f"LOMBA_IG_BENCH_{account.upper()}_SID"] = f"{pk}%3ABenchSessionAbcdefgh{account}%3A12%3AAY"
            (home / "c" / account).mkdir(parents=True)
            entries.append(
                {
                    "id": account,
                    "username": f"op.{account}",
                    "content_dir": f"c/{account}",
                    "credentials": {"sessionid_env": f"LOMBA_IG_BENCH_{account.upper()}_SID"},
                }
            )
        (home / "accounts.yaml").write_text(yaml.safe_dump({"accounts": entries}))
        with postgres.connection() as conn:
            import_accounts(conn, secret_box_from_settings(get_settings()), home / "accounts.yaml")
            # the spec's pause between actions is policy, not speed: measured without it
            spec = load_spec_file(PROJECT_ROOT / "config" / "ig_spec.yaml")
            spec.budget.min_seconds_between_actions = 0
            apply_spec(conn, spec, actor="bench")
        ig_ops = InstagramOpsResource(api_base_url=fake.url, request_delay_seconds=0,
                                      encryption=encryption_key_from_settings(get_settings()))
        clock = IgClock()
        for account in accounts:  # log in once: sessions are stored, as in production
            lanes.open_gateway(postgres, ig_ops, account)
        media = {}
        for account in accounts:
            pk = str(1000 + int(account[-3:]))
            media[account] = fake.add_media(pk, "Info lomba")
            for n in range(args.comments):
                fake.add_user(5000 + n, f"user{n}")
                fake.add_comment(
                    media[account], 5000 + n, f"user{n}", "link daftar dong" if n % 2 else "mantap"
                )
        fake.latency_seconds = args.latency
        resources = {
            "postgres": postgres,
            "ig_ops": ig_ops,
            "ig_clock": clock,
            "ai": AiResource(),  # no key: rules only, as in the spec
            "object_store": LocalObjectStore(
                root=str(home / "media"), public_base_url="http://x.test"
            ),
        }

        t0 = time.perf_counter()
        with dg.DagsterInstance.ephemeral() as instance:
            data = ig_reply_sensor.evaluate_tick(
                dg.build_sensor_context(resources=resources, instance=instance)
            )
        sensor_s = time.perf_counter() - t0
        requested = [r.tags[ACCOUNT_TAG] for r in data.run_requests]
        assert len(requested) == len(accounts), requested

        def lane(account):
            gateway = lanes.open_gateway(postgres, ig_ops, account)
            now = clock.now()
            planned = lanes.plan_replies(postgres, gateway, account, now)
            sent = lanes.send_planned(postgres, gateway, account, now)
            return planned.planned, sent.sent

        bench_accounts = accounts[1:]  # the first account goes through Dagster below
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(bench_accounts)) as pool:
            results = list(pool.map(lane, bench_accounts))
        lane_s = time.perf_counter() - t0
        sent_total = sum(s for _, s in results)

        t0 = time.perf_counter()
        result = ig_reply_job.execute_in_process(
            resources=resources, tags={ACCOUNT_TAG: accounts[0]}
        )
        dagster_s = time.perf_counter() - t0
        assert result.success
        replies_first = sum(
            len(fake.replies_to(c.pk)) for c in fake.media[media[accounts[0]]].comments
        )

        # the ideal: per account, feed + comment pages + inbox + one call per reply, sequential
        pages = -(-args.comments // fake.comment_page_size)
        calls_per_account = 2 + pages + args.comments
        ideal_account = calls_per_account * args.latency
        from lomba_pipeline.ig_ops.automation import SENSOR_THREADS

        rounds = -(-len(accounts) // SENSOR_THREADS)
        ideal_sensor = rounds * args.latency  # the feed read already shows new comments
        with postgres.connection() as conn:
            assert len(list_accounts(conn)) == len(accounts)
        duplicates = sum(
            1 for m in fake.media.values() for c in m.comments if len(fake.replies_to(c.pk)) > 1
        )
        print(
            f"reply lane bench: {len(accounts)} accounts x {args.comments} new comments, "
            f"fake latency {args.latency * 1000:.0f} ms"
        )
        print(
            f"  sensor tick (cheap reads, {len(accounts)} accounts on {SENSOR_THREADS} threads): {sensor_s:.2f} s "
            f"(ideal {ideal_sensor:.2f} s)"
        )
        print(
            f"  replies, {len(bench_accounts)} accounts in parallel: {sent_total} sent in {lane_s:.2f} s "
            f"(ideal {ideal_account:.2f} s = {calls_per_account} sequential calls x latency) "
            f"-> {sent_total / lane_s:.1f} replies/s"
        )
        print(
            f"  one account through Dagster (ig_reply_job.execute_in_process): {replies_first} sent "
            f"in {dagster_s:.2f} s (ideal {ideal_account:.2f} s) -> {replies_first / dagster_s:.1f} replies/s"
        )
        tick = sensor_s + max(lane_s, dagster_s)
        print(
            f"  one lane tick (sensor + slowest account): {tick:.2f} s vs ideal "
            f"{ideal_sensor + ideal_account:.2f} s ({tick / (ideal_sensor + ideal_account):.2f}x); "
            f"duplicate replies: {duplicates}"
        )


if __name__ == "__main__":
    main()
