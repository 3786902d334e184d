"""Benchmark lane A, the way it runs in production.

By default, THROUGH THE DAEMON at production settings: ``lomba dev`` (webserver, daemon, run
queue, run workers), the shipped ``config/ig_spec.yaml`` (its pause between actions and its
sensor call budget), the production pacing (``LOMBA_IG_REQUEST_DELAY_SECONDS`` = 1 s:
consecutive requests of an account 1 s + a random 1-3 s apart), the strict fake Instagram with
``--latency`` per request. First the idle phase: the Instagram calls the reply sensor makes per
account per hour while nothing happens. Then ``--comments`` comments across ``--accounts`` accounts arrive at
random moments over ``--spread`` seconds, and each one's comment-arrives -> reply-sent latency
is taken from the fake's own clock. Prints median and p95 (goal p95 <= 45 s) beside the ideal
bound for those settings (the sensor's read timetable plus the run's calls and pacing, without
Dagster's launch overhead), and where the time went (waiting for the sensor, the run queue and
launch, the run itself).

    .venv/bin/python bench/reply_lane.py [--accounts 10] [--comments 20] [--idle SECONDS]

``--fast`` keeps the former in-process figure: one sensor tick and the replies to 50 waiting
comments per account called directly (no daemon, no pacing, fake latency 100 ms).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# the fake Instagram lives with the tests
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fast", action="store_true", help="the former in-process figure")
    parser.add_argument("--latency", type=float, default=None,
                        help="fake Instagram latency per request (s): 0.2 daemon, 0.1 --fast")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--comments", type=int, default=None,
                        help="comments in all (daemon: 20) or per account (--fast: 50)")
    parser.add_argument("--idle", type=float, default=None,
                        help="idle phase seconds (default: two DM-read intervals of the spec, "
                             "a whole number of feed intervals too)")
    parser.add_argument("--spread", type=float, default=120,
                        help="comments arrive over this many seconds")
    parser.add_argument("--request-delay", type=float, default=1.0,
                        help="LOMBA_IG_REQUEST_DELAY_SECONDS (production: 1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--checks-per-hour", type=int, default=None,
                        help="override the spec's watch.checks_per_account_per_hour")
    args = parser.parse_args()
    if args.latency is None:
        args.latency = 0.1 if args.fast else 0.2
    if args.comments is None:
        args.comments = 50 if args.fast else 20

    from lomba_pipeline.resources.postgres import (
        PostgresResource,
        database_url,
        ensure_database,
        start_embedded_server,
    )
    from lomba_pipeline.settings import PROJECT_ROOT, get_settings

    home = Path(tempfile.mkdtemp(prefix="lomba_bench_"))
    server = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg").get_uri()
    suffix = uuid.uuid4().hex[:8]
    names = [f"lomba_bench_{suffix}", f"dagster_bench_{suffix}"]
    url = ensure_database(server, names[0])
    dagster_url = ensure_database(server, names[1])
    os.environ.update({"LOMBA_HOME": str(home), "LOMBA_DATABASE_URL": url})
    get_settings.cache_clear()
    postgres = PostgresResource(database_url=url)
    postgres.migrate()
    try:
        if args.fast:
            run_fast(args, postgres, home)
        else:
            run_daemon(args, url, dagster_url, home)
    finally:
        from lomba_pipeline.resources.postgres import close_all_pools

        close_all_pools()
        import psycopg2

        conn = psycopg2.connect(database_url(server, "postgres"))
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ideal_latency(spec, latency: float, delay: float) -> tuple[float, float]:
    """Median and p95 of comment -> reply without Dagster overhead: the wait for the account's
    next activity-feed read (evenly spaced), that read, then the run's two calls (the notified
    post's comments page, the reply) with the pacer's gap between them (mean 3 x delay)."""
    gap = spec.watch.seconds_between_feed_reads
    waits = [gap * (i + 0.5) / 1000 for i in range(1000)]  # arrivals uniform within a gap
    fixed = 3 * latency + 3 * delay
    return statistics.median(waits) + fixed, percentile(waits, 0.95) + fixed


def run_daemon(args, url: str, dagster_url: str, home: Path) -> None:
    from lomba_pipeline.ig_ops.spec import parse_spec
    from lomba_pipeline.settings import PROJECT_ROOT
    from lomba_pipeline_tests.ig_ops.daemon_world import daemon_world, uid, wait_until

    spec_text = (PROJECT_ROOT / "config" / "ig_spec.yaml").read_text()
    if args.checks_per_hour:
        spec_text = spec_text.replace(
            "checks_per_account_per_hour: 120",
            f"checks_per_account_per_hour: {args.checks_per_hour}",
        )
    spec = parse_spec(spec_text)
    if args.idle is None:  # a window of whole intervals: no read counted at its edges by luck
        args.idle = 2 * spec.watch.seconds_between_dm_reads
    accounts = [f"ig_{i:03d}" for i in range(1, args.accounts + 1)]
    started = time.monotonic()
    with daemon_world(url, dagster_url, home, accounts, spec_text=spec_text,
                      request_delay_seconds=args.request_delay,
                      fake_latency_seconds=args.latency) as world:
        fake = world.fake
        print(f"lomba dev up in {time.monotonic() - started:.0f} s; "
              f"{len(accounts)} accounts, requests of an account {args.request_delay:g} s + "
              f"random {args.request_delay:g}-{3 * args.request_delay:g} s apart, fake latency "
              f"{args.latency * 1000:.0f} ms, min gap {spec.budget.min_seconds_between_actions:g}"
              f" s, sensor budget {spec.watch.checks_per_account_per_hour} reads/account/h (1 in "
              f"{spec.watch.dm_inbox_every} the DM inbox)")
        # the first looks at each account log it in (session stored) and catch up on both
        # kinds of read (a fresh sensor reads the feed, then the DM inbox): not part of idle
        wait_until(lambda: all(
            any(c.headers.get("ig-u-ds-user-id") == uid(a) and kind in c.path
                for c in fake.calls)
            for a in accounts for kind in ("/news/inbox/", "/direct_v2/inbox/")),
            180, "every account read once of each kind", 1)

        def by_account() -> Counter:
            return Counter(c.headers.get("ig-u-ds-user-id") for c in fake.calls)

        before, t0 = by_account(), time.monotonic()
        time.sleep(args.idle)
        after, idle_s = by_account(), time.monotonic() - t0
        per_hour = [(after[uid(a)] - before[uid(a)]) * 3600 / idle_s for a in accounts]
        runs = world.runs(pipelineName="ig_reply_job")
        print(f"  idle {idle_s:.0f} s: sensor reads per account per hour "
              f"{statistics.mean(per_hour):.0f} (min {min(per_hour):.0f}, max "
              f"{max(per_hour):.0f}; budget {spec.watch.checks_per_account_per_hour}); "
              f"reply runs launched: {len(runs)}")

        rng = random.Random(args.seed)
        plan = sorted((rng.uniform(0, args.spread), accounts[n % len(accounts)])
                      for n in range(args.comments))
        comments = []
        t0 = time.monotonic()
        for offset, account in plan:
            time.sleep(max(0.0, offset - (time.monotonic() - t0)))
            comments.append(world.comment(account, "Kak, link daftarnya mana?",
                                          who_pk=6000 + len(comments)))

        def replied():
            return all(fake.replies_to(c) for c in comments)

        wait_until(replied, 900, "every comment answered", 1)
        created = {c.pk: c.created for m in fake.media.values() for c in m.comments}
        latencies = [fake.replies_to(c)[0].created - created[c] for c in comments]
        duplicates = sum(len(fake.replies_to(c)) > 1 for c in comments)
        runs = world.runs(pipelineName="ig_reply_job")
        ideal_median, ideal_p95 = ideal_latency(spec, args.latency, args.request_delay)
        print(f"  {len(comments)} comments across {len(accounts)} accounts over "
              f"{args.spread:.0f} s: comment -> reply median {statistics.median(latencies):.1f}"
              f" s, p95 {percentile(latencies, 0.95):.1f} s, max {max(latencies):.1f} s "
              f"(goal p95 <= 45 s); duplicates {duplicates}; reply runs {len(runs)}")
        print(f"  ideal for these settings (feed read every "
              f"{spec.watch.seconds_between_feed_reads:g} s + the read + 2 run calls + the "
              f"pacer's gap, no launch overhead): median {ideal_median:.1f} s, "
              f"p95 {ideal_p95:.1f} s")
        segments = [where_time_went(c, created[c], fake.replies_to(c)[0].created, runs,
                                    uid_of={uid(a): a for a in accounts}, fake=fake)
                    for c in comments]
        for name, values in zip(("comment -> run created (wait for the read, the read)",
                                 "run created -> started (queue, launch)",
                                 "run started -> reply sent (2 calls, pacing)"),
                                zip(*segments, strict=True), strict=True):
            print(f"    {name}: median {statistics.median(values):.1f} s, "
                  f"p95 {percentile(list(values), 0.95):.1f} s")
        durations = [r["endTime"] - r["startTime"] for r in runs if r["endTime"]]
        if durations:
            print(f"  reply run start -> end: median {statistics.median(durations):.1f} s, "
                  f"max {max(durations):.1f} s")


def where_time_went(comment_pk, arrived, replied, runs, uid_of, fake):
    """(comment -> run created, created -> started, started -> reply) for the run that sent
    the reply: the last run of the comment's account created before the reply."""
    media = next(m for m in fake.media.values() if any(c.pk == comment_pk for c in m.comments))
    account = uid_of[media.owner_pk]
    run = max((r for r in runs if r["tags"].get("ig/account") == account
               and r["creationTime"] <= replied and r["startTime"]),
              key=lambda r: r["creationTime"])
    return (run["creationTime"] - arrived, run["startTime"] - run["creationTime"],
            replied - run["startTime"])


def run_fast(args, postgres, home: Path) -> None:
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
