"""Fault-injection suite (issue 9): SIGKILL trials, a Postgres restart and an object-store outage
mid-run, each followed by a recovery run and invariant checks. Prints a table of trials /
duplicates / lost rows / orphan objects (goal 0 / 0 / 0).

    make chaos                                   # 50 kill trials + 3 restarts + 3 outages
    .venv/bin/python bench/chaos.py [--trials 50] [--restarts 3] [--outages 3] [--seed 9]
    .venv/bin/python bench/chaos.py --quick      # a handful, one of each kind

Everything is real and local: ``lomba run`` (``python -m lomba_pipeline.cli run``) in a child
process against a SYNTHETIC catalog site, the worktree's embedded PostgreSQL (a fresh database per
trial), moto's S3 server as R2, the fake Zhipu (latency, so extraction takes a while), the fake
WAHA for broadcasts and the fake Instagram for lane B posts. The kill moment is drawn from a
seeded RNG, uniformly over the phase's span measured on a clean run first.

Kinds: scrape / poster / extraction (kill a ``lomba run`` inside that phase), broadcast (kill the
admin panel's approve-and-broadcast path), post (kill lane B's ``ig_post_job``), pg_restart
(``pg_ctl stop -m fast`` + start during a ``lomba run``), store_down (moto's socket closed for
2–4 s during the poster phase, then back on the same port with its buckets).

It restarts the worktree's embedded PostgreSQL: do not run it beside ``make test`` in the same
checkout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the fakes live with the tests

from bench import chaos_checks as checks  # noqa: E402
from bench.chaos_env import (  # noqa: E402
    R2_PUBLIC,
    ROOT,
    WA_CHANNEL,
    Child,
    EmbeddedPg,
    MotoR2,
    chaos_events,
    child_env,
    dbname,
    python,
    r2_env,
)

KILL_KINDS = ["scrape", "poster", "extraction", "broadcast", "post"]
POST_DAY = "2026-12-02"  # lane B's day, fixed: the bench never reads the calendar
ACCOUNTS = ["ig_001", "ig_002", "ig_003"]  # instagrapi waits 3 s per upload: ~5 s per post
AI_RECORD = {  # what the fake Zhipu answers: registration open in 2027, so records broadcast
    "organizer": "Panitia Sintetis",
    "start_date": "2027-01-05",
    "end_date": "2027-02-20",
    "categories": ["Sastra & Bahasa"],
    "levels": ["SMA", "Mahasiswa"],
}


def uid(account: str) -> str:
    return str(1000 + int(account[-3:]))


@dataclass
class Trial:
    kind: str
    offset: float
    landed: str
    verdict: checks.Verdict
    notes: list[str] = field(default_factory=list)
    faulted: tuple[int, str] | None = None  # a run that lived through the fault: exit, posters


class Suite:
    def __init__(self, args) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.home = Path(tempfile.mkdtemp(prefix="lomba_chaos_"))
        os.environ["LOMBA_HOME"] = str(self.home)  # the parent imports IG accounts (secret box)
        from lomba_pipeline.settings import get_settings

        get_settings.cache_clear()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        from lomba_pipeline.demo.site import SyntheticSite
        from lomba_pipeline_tests.fakes.ai_providers import FakeAiProviders
        from lomba_pipeline_tests.fakes.waha import FakeWaha

        self.pg = EmbeddedPg()
        self.r2 = MotoR2()
        self.r2.start()
        self.site = SyntheticSite(events=chaos_events(args.listings)).start()
        self.ai = FakeAiProviders(latency_seconds=args.ai_latency).start()
        self.ai.zhipu_reply = lambda text: json.dumps(AI_RECORD)
        self.waha = FakeWaha(latency_seconds=0.25).start()
        self.dagster_url = self.pg.new_database("chaos_dagster")
        self.sources = self.home / "sources.yaml"
        self.sources.write_text(yaml.safe_dump({
            "crawl": {"desired_concurrency": 2, "max_concurrency": 4, "per_host_delay_seconds": 0,
                      "max_request_retries": 1, "request_timeout_seconds": 5,
                      "pass_timeout_seconds": 60},
            "web": [{"name": "chaos-sintetis", "type": "infolomba", "base_url": self.site.url,
                     "load_more_pages": 0}],
            "instagram": {"profiles": []},
        }))
        self.spans: dict[str, float] = {}
        self.served: set[str] = set()

    def close(self) -> None:
        from lomba_pipeline.resources.postgres import close_all_pools

        close_all_pools()
        for server in (self.site, self.ai, self.waha):
            server.stop()
        self.r2.stop()
        self.pg.drop_all()
        shutil.rmtree(self.home, ignore_errors=True)

    # -- children ---------------------------------------------------------------------------------
    def catalog_env(self, app_url: str, bucket: str) -> dict[str, str]:
        return child_env(self.home, app_url, self.dagster_url, {
            **r2_env(self.r2, bucket),
            "LOMBA_EXTRACTION_PROVIDER": "zhipu",
            "ZHIPUAI_API_KEY": "chaos-zhipu-key",
            "LOMBA_ZHIPU_BASE_URL": self.ai.zhipu_base_url,
            "LOMBA_AI_CONCURRENCY": "2",
            "LOMBA_AI_REQUESTS_PER_MINUTE": "300",
            "LOMBA_FETCH_ALLOW_HOSTS": self.site.host_port,  # the loopback site, explicitly
        })

    def lomba_run(self, app_url: str, bucket: str) -> Child:
        args = python("-m", "lomba_pipeline.cli", "run", "--sources", str(self.sources))
        return Child(args, self.catalog_env(app_url, bucket)).start()

    def broadcast_child(self, app_url: str, bucket: str, recover: bool = False) -> Child:
        env = child_env(self.home, app_url, self.dagster_url, {
            **r2_env(self.r2, bucket), "LOMBA_WAHA_URL": self.waha.url,
            "LOMBA_WA_CHANNEL_ID": WA_CHANNEL,
        })
        args = python(str(ROOT / "bench" / "chaos_child.py"), "broadcast",
                      *(["--recover"] if recover else []))
        return Child(args, env).start()

    def post_child(self, app_url: str, bucket: str, fake_url: str) -> Child:
        self._sync_ig_content(bucket)
        env = child_env(self.home, app_url, self.dagster_url, r2_env(self.r2, bucket))
        args = python(str(ROOT / "bench" / "chaos_child.py"), "post", "--fake", fake_url,
                      "--day", POST_DAY, *ACCOUNTS)
        return Child(args, env).start()

    def _sync_ig_content(self, bucket: str) -> None:
        """What `lomba accounts sync-content` does: the post lane reads content from R2."""
        from dagster_aws.s3 import S3Resource

        from lomba_pipeline.ig_ops.content_store import sync_content
        from lomba_pipeline.resources.object_store import R2ObjectStore

        s3 = S3Resource(endpoint_url=self.r2.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
        store = R2ObjectStore(s3=s3, bucket=bucket, public_base_url=R2_PUBLIC)
        for account in ACCOUNTS:
            sync_content(store, account, self.accounts_file.parent / "content" / account)

    def _write_ig_accounts(self) -> None:
        from lomba_pipeline.ig_ops.demo import write_demo_content

        root = self.home / "ig"
        entries = []
        for account in ACCOUNTS:
            write_demo_content(root / "content", account, 2)
            env = f"LOMBA_IG_CHAOS_{account.upper()}_SESSIONID"
            os.environ[env] = f"{uid(account)}%3AChaosSessionAbcdef{account}%3A12%3AAYchaos"
            entries.append({"id": account, "username": f"op.{account}",
                            "content_dir": f"content/{account}",
                            "credentials": {"sessionid_env": env}})
        self.accounts_file = root / "accounts.yaml"
        self.accounts_file.write_text(yaml.safe_dump({"accounts": entries}))

    def ig_database(self) -> str:
        """A fresh database with the operated accounts and the active lane spec (a copy of one
        prepared once: migrated, accounts imported, spec applied, nobody logged in yet)."""
        if not getattr(self, "ig_template", None):
            self.ig_template = dbname(self._prepare_ig_database())
        return self.pg.new_database("chaos_app", self.ig_template)

    def _prepare_ig_database(self) -> str:
        from lomba_pipeline.ig_ops.accounts import import_accounts
        from lomba_pipeline.ig_ops.spec import apply_spec, parse_spec
        from lomba_pipeline.resources.postgres import PostgresResource
        from lomba_pipeline.secrets_box import secret_box_from_settings
        from lomba_pipeline.settings import get_settings

        url = self.pg.new_database("chaos_igtpl")
        pg = PostgresResource(database_url=url)
        pg.migrate()
        with pg.connection() as conn:
            import_accounts(conn, secret_box_from_settings(get_settings()), self.accounts_file,
                            actor="chaos")
            apply_spec(conn, parse_spec((ROOT / "config" / "ig_spec.yaml").read_text()),
                       actor="chaos", source="chaos")
        from lomba_pipeline.resources.postgres import close_all_pools

        close_all_pools()
        return url

    def fake_ig(self):
        from lomba_pipeline_tests.fakes.fake_ig_ops import FakeIgOps

        fake = FakeIgOps(latency_seconds=0.15).start()
        for account in ACCOUNTS:
            fake.add_user(uid(account), f"op.{account}")
        return fake

    # -- clean runs: phase spans, and proof the checks pass without faults -------------------------
    def baseline(self, kinds: set[str]) -> None:
        self.baseline_catalog()
        if "broadcast" in kinds:
            self.baseline_broadcast()
        if "post" in kinds:
            self._write_ig_accounts()
            self.baseline_post()

    def baseline_catalog(self) -> None:
        app, bucket = self.empty_database(), self.r2.new_bucket()
        child = self.lomba_run(app, bucket)
        if child.finish() != 0:
            raise SystemExit("clean `lomba run` failed:\n" + child.output())
        anchor = child.wait_for("catalog pass over")
        t = {"raw": 0.0, "poster": 0.0, "extract": 0.0}
        for at, line in child.lines:
            if "→ DB insert raw_items" in line:
                t["raw"] = at - anchor
            elif " poster " in line and "raw_items#" in line:
                t["poster"] = at - anchor
            elif line.startswith("extraction (") and not t["extract"]:
                t["extract"] = at - anchor
        self.spans = {"scrape": t["raw"], "poster": t["poster"] - t["raw"],
                      "extraction": t["extract"] - t["poster"], "pg_restart": t["extract"],
                      "store_down": 0.7 * (t["poster"] - t["raw"])}
        self.served = {r[0] for r in checks._rows(app, "SELECT canonical_url FROM raw_items")}
        clean = checks.catalog(app, self.r2.keys(bucket), self.served)
        print(f"clean lomba run: {child.proc.returncode=} {len(self.served)} items, "
              f"{len(self.r2.keys(bucket))} objects; phases after start of pass: scrape 0–"
              f"{t['raw']:.2f}s, posters –{t['poster']:.2f}s, extraction –{t['extract']:.2f}s; "
              f"checks {clean.duplicates}/{clean.lost}/{clean.orphans}", flush=True)
        if len(self.served) != self.args.listings or clean.findings:
            raise SystemExit(f"the clean run is not clean: {clean.findings}")
        self.template, self.template_bucket = dbname(app), bucket

    def baseline_broadcast(self) -> None:
        app, bucket = self.pg.new_database("chaos_app", self.template), self.r2.new_bucket(
            self.template_bucket)
        self.waha.delivered.clear()
        child = self.broadcast_child(app, bucket)
        child.finish()
        self.broadcast_span = child.wait_for("chaos-child: finished") - child.wait_for("start:")
        clean = checks.broadcasts(app, self.r2.keys(bucket), list(self.waha.delivered), WA_CHANNEL)
        print(f"clean broadcast: {len(self.waha.delivered)} messages in "
              f"{self.broadcast_span:.2f}s; checks {clean.duplicates}/{clean.lost}/{clean.orphans}",
              flush=True)
        if clean.findings or len(self.waha.delivered) != self.args.listings:
            raise SystemExit(f"the clean broadcast is not clean: {clean.findings}\n"
                             + child.output())

    def baseline_post(self) -> None:
        app, bucket, fake = self.ig_database(), self.r2.new_bucket(), self.fake_ig()
        try:
            child = self.post_child(app, bucket, fake.url)
            child.finish()
            self.post_span = child.wait_for("chaos-child: finished") - child.wait_for("start:")
            clean = checks.posts(app, self.r2.keys(bucket), fake, ACCOUNTS, uid, POST_DAY)
        finally:
            fake.stop()
        print(f"clean lane B: {len(ACCOUNTS)} posts in {self.post_span:.2f}s; checks "
              f"{clean.duplicates}/{clean.lost}/{clean.orphans}", flush=True)
        if clean.findings:
            raise SystemExit(f"the clean post run is not clean: {clean.findings}\n"
                             + child.output())

    # -- trials -----------------------------------------------------------------------------------
    def _sleep_until(self, child: Child, at: float) -> None:
        time.sleep(max(0.0, child.started + at - time.monotonic()))

    def empty_database(self) -> str:
        """A fresh application database: a copy of an empty, migrated one."""
        if not getattr(self, "empty_template", None):
            from lomba_pipeline.resources.postgres import PostgresResource, close_all_pools

            url = self.pg.new_database("chaos_empty")
            PostgresResource(database_url=url).migrate()
            close_all_pools()
            self.empty_template = dbname(url)
        return self.pg.new_database("chaos_app", self.empty_template)

    def fault_moment(self, child: Child, kind: str) -> tuple[float, float | None]:
        """(offset, anchor): the phase's start as this run shows it, plus a random offset
        drawn uniformly over the phase's span in the clean run."""
        span = self.spans[kind]
        offset = self.rng.uniform(0.0, span)
        if kind in {"scrape", "pg_restart"}:
            anchor = child.wait_for("catalog pass over")
        elif kind in {"poster", "store_down"}:
            anchor = child.wait_for("→ DB insert raw_items")
        else:  # extraction starts once every poster is stored
            anchor = child.wait_for(" poster ", count=self.args.listings)
        return offset, anchor

    @staticmethod
    def faulted_note(child: Child, rc: int) -> tuple[str, tuple[int, str]]:
        """How the run that lived through the fault ended, in its own words."""
        errors = child.error_lines()
        posters = child.line_starting("posters:").split("(")[0].strip() or "no summary"
        note = (f"faulted run: exit {rc}, {posters}, {len(errors)} error lines"
                + (f" (first: {errors[0].strip()[:120]})" if errors else ""))
        return note, (rc, posters)

    def catalog_trial(self, kind: str) -> Trial:
        app, bucket = self.empty_database(), self.r2.new_bucket()
        child = self.lomba_run(app, bucket)
        offset, anchor = self.fault_moment(child, kind)
        notes, faulted = [], None
        if anchor is None:
            notes.append("run ended before the phase began")
        else:
            self._sleep_until(child, anchor + offset)
        if kind == "pg_restart":
            self.pg.restart(self.rng.uniform(0.5, 2.0))
            landed = checks.snapshot(app, self.r2.keys(bucket))
            rc = child.finish(180)
            note, faulted = self.faulted_note(child, rc)
            notes.append(note)
        elif kind == "store_down":
            self.r2.stop()
            time.sleep(self.rng.uniform(2.0, 4.0))
            self.r2.start()
            rc = child.finish(180)
            landed = checks.snapshot(app, self.r2.keys(bucket))
            note, faulted = self.faulted_note(child, rc)
            notes.append(note)
        else:
            if not child.kill():
                notes.append("run had finished before the kill")
            landed = checks.snapshot(app, self.r2.keys(bucket))
        recovery = self.lomba_run(app, bucket)
        rc = recovery.finish(180)
        if rc != 0:
            notes.append(f"recovery exit {rc}: {recovery.output()[-300:]}")
        verdict = checks.catalog(app, self.r2.keys(bucket), self.served)
        return Trial(kind, offset, landed, verdict, notes, faulted)

    def broadcast_trial(self) -> Trial:
        app = self.pg.new_database("chaos_app", self.template)
        bucket = self.r2.new_bucket(self.template_bucket)
        self.waha.delivered.clear()
        child = self.broadcast_child(app, bucket)
        anchor = child.wait_for("start:")
        offset = self.rng.uniform(0.0, self.broadcast_span)
        self._sleep_until(child, (anchor or 0) + offset)
        notes = [] if child.kill() else ["run had finished before the kill"]
        landed = checks.snapshot(app, self.r2.keys(bucket))
        recovery = self.broadcast_child(app, bucket, recover=True)
        if recovery.finish(180) != 0:
            notes.append(f"recovery failed: {recovery.output()[-300:]}")
        time.sleep(0.3)  # a request the killed child had in flight may still land at WAHA
        verdict = checks.broadcasts(app, self.r2.keys(bucket), list(self.waha.delivered),
                                    WA_CHANNEL)
        return Trial("broadcast", offset, landed, verdict, notes)

    def post_trial(self) -> Trial:
        app, bucket, fake = self.ig_database(), self.r2.new_bucket(), self.fake_ig()
        try:
            child = self.post_child(app, bucket, fake.url)
            anchor = child.wait_for("start:")
            offset = self.rng.uniform(0.0, self.post_span)
            self._sleep_until(child, (anchor or 0) + offset)
            notes = [] if child.kill() else ["run had finished before the kill"]
            landed = checks.snapshot(app, self.r2.keys(bucket))
            recovery = self.post_child(app, bucket, fake.url)
            if recovery.finish(180) != 0:
                notes.append(f"recovery failed: {recovery.output()[-300:]}")
            time.sleep(0.3)
            verdict = checks.posts(app, self.r2.keys(bucket), fake, ACCOUNTS, uid, POST_DAY)
        finally:
            fake.stop()
        return Trial("post", offset, landed, verdict, notes)

    def run_trial(self, kind: str) -> Trial:
        if kind == "broadcast":
            return self.broadcast_trial()
        if kind == "post":
            return self.post_trial()
        return self.catalog_trial(kind)


def plan(args) -> list[str]:
    kinds = [KILL_KINDS[i % len(KILL_KINDS)] for i in range(args.trials)]
    kinds += ["pg_restart"] * args.restarts + ["store_down"] * args.outages
    return kinds


LANDED_FIELDS = {"broadcast": ("wa",), "post": ("ig", "obj")}


def landed_range(group: list[Trial]) -> str:
    """Where the faults hit: the range of rows present at the fault, e.g. ``raw 0–8``."""
    fields = LANDED_FIELDS.get(group[0].kind, ("raw", "img", "rec"))
    seen: dict[str, list[int]] = defaultdict(list)
    for t in group:
        words = t.landed.split()
        for name, value in zip(words[::2], words[1::2], strict=False):
            if name in fields and value.isdigit():
                seen[name].append(int(value))
    return "at fault " + ", ".join(f"{k} {min(v)}–{max(v)}" for k, v in seen.items())


def group_notes(group: list[Trial]) -> str:
    notes = [landed_range(group)]
    missed = sum(any(n.startswith(("run had finished", "run ended")) for n in t.notes)
                 for t in group)
    if missed:
        notes.append(f"{missed} missed (run already over)")
    faulted = [t.faulted for t in group if t.faulted]
    if faulted:
        notes.append("faulted runs: exit " + ",".join(str(rc) for rc, _ in faulted)
                     + "; summary " + ", ".join(f"'{p}'" for _, p in faulted))
    failed = sum(any(n.startswith("recovery") for n in t.notes) for t in group)
    if failed:
        notes.append(f"{failed} recoveries failed")
    labels = Counter(label for t in group for label in t.verdict.labels)
    return "; ".join(notes + [f"{n}× {label}" for label, n in labels.most_common()])


def table(trials: list[Trial], wall: float) -> str:
    from tabulate import tabulate

    by_kind: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        by_kind[t.kind].append(t)
    rows = []
    for kind in [*KILL_KINDS, "pg_restart", "store_down"]:
        group = by_kind.get(kind)
        if not group:
            continue
        rows.append([
            kind, len(group), sum(t.verdict.duplicates for t in group),
            sum(t.verdict.lost for t in group), sum(t.verdict.orphans for t in group),
            sum(t.verdict.unknown for t in group), group_notes(group),
        ])
    rows.append(["total", len(trials), *(sum(r[i] for r in rows) for i in range(2, 6)), ""])
    headers = ["scenario", "trials", "duplicates", "lost rows", "orphan objects",
               "unknown/needs-approval", "notes"]
    return tabulate(rows, headers=headers) + f"\nwall time {wall / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50, help="SIGKILL trials, spread over "
                        + ", ".join(KILL_KINDS))
    parser.add_argument("--restarts", type=int, default=3, help="Postgres restarts mid-run")
    parser.add_argument("--outages", type=int, default=3, help="object-store outages mid-run")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--listings", type=int, default=8, help="items the synthetic site serves")
    parser.add_argument("--ai-latency", type=float, default=0.15,
                        help="fake Zhipu latency per call (spreads the extraction phase)")
    parser.add_argument("--quick", action="store_true", help="one trial of each kind")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.restarts, args.outages = len(KILL_KINDS), 1, 1
    started = time.monotonic()
    suite = Suite(args)
    trials: list[Trial] = []
    try:
        kinds = plan(args)
        suite.baseline(set(kinds))
        for n, kind in enumerate(kinds, 1):
            t0 = time.monotonic()
            trial = suite.run_trial(kind)
            trials.append(trial)
            v = trial.verdict
            print(f"[{n:2d}/{len(kinds)}] {kind:10s} fault at +{trial.offset:5.2f}s "
                  f"(then: {trial.landed}) → dup {v.duplicates} lost {v.lost} orphan "
                  f"{v.orphans} unknown {v.unknown}  [{time.monotonic() - t0:.0f}s]", flush=True)
            for line in trial.notes + v.findings:
                print(f"        {line}", flush=True)
    finally:
        suite.close()
    print()
    print(f"chaos suite, seed {args.seed}, {args.listings} listings per catalog trial, "
          f"{len(ACCOUNTS)} accounts per post trial")
    print(table(trials, time.monotonic() - started))


if __name__ == "__main__":
    main()
