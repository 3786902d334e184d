"""The operated accounts run by a real ``lomba dev`` (webserver + daemon + run workers) against
the strict fake Instagram: shared by ``test_through_daemon.py`` and ``bench/reply_lane.py``.

Nothing is driven by hand once it runs: the reply sensor notices comments, the run queue starts
the runs, schedules and the sensor launch posts. The test process talks to it as a person
would: the ``lomba`` CLI, the UI's GraphQL endpoint, and the fake Instagram (what people do on
Instagram, and what Instagram was asked).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lomba_pipeline.ig_ops.accounts import import_accounts
from lomba_pipeline.ig_ops.content_store import sync_content
from lomba_pipeline.ig_ops.demo import write_demo_content
from lomba_pipeline.ig_ops.spec import apply_spec, parse_spec
from lomba_pipeline.resources.object_store import object_store_from_settings
from lomba_pipeline.resources.postgres import PostgresResource
from lomba_pipeline.secrets_box import secret_box_from_settings
from lomba_pipeline.settings import get_settings
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.fakes.fake_ig_ops import FakeIgOps
from lomba_pipeline_tests.processes import graphql, lomba, lomba_dev

LOCATION = {"repositoryLocationName": "lomba_pipeline", "repositoryName": "__repository__"}
SCRAPER_SESSIONID = "77%3AScraperSessionForDaemonTests%3A12%3AAYfake"
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message }
  ... on RunConflict { message } ... on UnauthorizedError { message }
  ... on InvalidOutputError { stepKey } ... on PipelineNotFoundError { message } } }"""
RUN = """query Run($id: ID!) { runOrError(runId: $id) { ... on Run {
  runId status jobName startTime endTime tags { key value } } } }"""
RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
  runId status jobName creationTime startTime endTime tags { key value } } } } }"""
LOGS = """query Logs($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
  __typename ... on MessageEvent { message }
  ... on ExecutionStepFailureEvent { error { message } } } } } }"""
SENSOR_TICKS = """query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { ticks(limit: 1) { timestamp status } } } } }"""
SCHEDULE = """query Schedule($selector: ScheduleSelector!) { scheduleOrError(scheduleSelector: $selector) {
  ... on Schedule { cronSchedule executionTimezone description
  futureTicks(limit: 1) { results { timestamp } } } } }"""


def uid(account: str) -> str:
    return str(1000 + int(account[-3:]))


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval=0.5):
    """Poll ``condition`` until it returns something truthy (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


@dataclass
class DaemonWorld:
    fake: FakeIgOps
    port: int
    env: dict
    postgres: PostgresResource
    accounts: list[str]
    media: dict[str, str] = field(default_factory=dict)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.port, query, variables)

    def lomba(self, *args):
        return lomba(*args, env=self.env)

    def sql(self, query: str, params=()) -> list[tuple]:
        with self.postgres.connection() as conn, conn.cursor() as cur:
            cur.execute(query, params or None)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def comment(self, account: str, text: str, who_pk: int = 555) -> str:
        self.fake.add_user(who_pk, f"siswa{who_pk}")
        return self.fake.add_comment(self.media[account], who_pk, f"siswa{who_pk}", text)

    def launch(self, job: str, tags: dict[str, str], run_config: dict | None = None) -> str:
        """Launch a run as the UI's launchpad does (it goes through the daemon's run queue)."""
        params = {
            "selector": {**LOCATION, "jobName": job},
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        result = self.graphql(LAUNCH, {"params": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]["runId"]

    def run(self, run_id: str) -> dict:
        run = self.graphql(RUN, {"id": run_id})["runOrError"]
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return run

    def runs(self, **filter_) -> list[dict]:
        runs = self.graphql(RUNS, {"filter": filter_})["runsOrError"]["results"]
        for run in runs:
            run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
        return runs

    def finished(self, run_id: str, timeout: float = 180) -> dict:
        return wait_until(
            lambda: (r := self.run(run_id))["status"] in ("SUCCESS", "FAILURE", "CANCELED") and r,
            timeout, f"run {run_id} finished",
        )

    def messages(self, run_id: str) -> list[str]:
        events = self.graphql(LOGS, {"id": run_id})["logsForRun"]["events"]
        return [
            (e.get("message") or "") + (f": {e['error']['message']}" if e.get("error") else "")
            for e in events
        ]

    def sensor_ticks(self, name: str = "ig_reply_sensor") -> list[dict]:
        selector = {**LOCATION, "sensorName": name}
        sensor = self.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
        return sensor["sensorState"]["ticks"]

    def schedule(self, name: str) -> dict:
        selector = {**LOCATION, "scheduleName": name}
        return self.graphql(SCHEDULE, {"selector": selector})["scheduleOrError"]


def _empty_app_tables(postgres: PostgresResource) -> None:
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r[0] for r in cur.fetchall() if r[0] != "schema_migrations"]
        cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")


@contextmanager
def daemon_world(
    app_url: str,
    dagster_url: str,
    home: Path,
    accounts: list[str],
    *,
    spec_text: str,
    request_delay_seconds: float = 0.0,
    fake_latency_seconds: float = 0.0,
) -> Iterator[DaemonWorld]:
    """``lomba dev`` on a free port, its own Dagster database, the fake Instagram serving the
    operated ``accounts`` (imported, one seeded post each, ``spec_text`` applied) and the
    catalog's scraper account."""
    postgres = PostgresResource(database_url=app_url)
    _empty_app_tables(postgres)
    secrets = {}
    entries = []
    with FakeIgOps(latency_seconds=fake_latency_seconds) as fake:
        fake.add_user(77, "scraper")
        for account in accounts:
            fake.add_user(uid(account), f"op.{account}")
            write_demo_content(home / "content", account, 3)
            name = f"LOMBA_IG_DAEMON_{account.upper()}_SESSIONID"
            secrets[name] = f"{uid(account)}%3ADaemonSession{account}%3A12%3AAYfake"
            entries.append({"id": account, "username": f"op.{account}",
                            "content_dir": f"content/{account}",
                            "credentials": {"sessionid_env": name}})
        (home / "accounts.yaml").write_text(yaml.safe_dump({"accounts": entries}))
        saved = {k: os.environ.get(k) for k in secrets}
        os.environ.update(secrets)
        try:
            with postgres.connection() as conn:
                import_accounts(conn, secret_box_from_settings(get_settings()),
                                home / "accounts.yaml", actor="test")
                apply_spec(conn, parse_spec(spec_text), actor="test", source="test")
            # what `lomba accounts sync-content` does: the post lane reads the object store
            store = object_store_from_settings(get_settings(), for_dagster=False)
            for account in accounts:
                sync_content(store, account, home / "content" / account)
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        port = free_port()
        env = {
            **os.environ,
            "LOMBA_DATABASE_URL": app_url,
            "LOMBA_DAGSTER_DATABASE_URL": dagster_url,
            "LOMBA_DAGSTER_PORT": str(port),  # where `lomba spec` asks for a reload
            "LOMBA_IG_API_BASE_URL": fake.url,
            "LOMBA_IG_REQUEST_DELAY_SECONDS": str(request_delay_seconds),
            "LOMBA_IG_SCRAPER_USERNAME": "scraper",
            "LOMBA_IG_SCRAPER_SESSIONID": SCRAPER_SESSIONID,
        }
        world = DaemonWorld(fake, port, env, postgres, accounts)
        for account in accounts:
            world.media[account] = fake.add_media(uid(account), f"Info lomba {account}")
        with lomba_dev(port, env, extra_args=("--no-admin",)):
            wait_until(world.sensor_ticks, 120, "the daemon ticked ig_reply_sensor", 1)
            yield world
