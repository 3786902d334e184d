"""The production topology on loopback: a gRPC code server, a webserver and a daemon as three
processes (deploy/workspace.yaml's grpc_server entry, deploy/dagster.yaml on the session's
Postgres), compute logs in an R2 bucket (moto over HTTP)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import uuid

import boto3
import pytest

from lomba_pipeline.demo.content import make_blog_posts, make_events
from lomba_pipeline.demo.site import SyntheticSite, now_utc
from lomba_pipeline.instance import topology_environment
from lomba_pipeline.settings import R2Settings
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.deploy.topology import location_state, topology, wait_until
from lomba_pipeline_tests.processes import graphql
from lomba_pipeline_tests.test_ingestion_ui import LAUNCH, MATERIALIZED, STATUS, run_failures

DONE = {"COMPLETED_SUCCESS", "COMPLETED", "FAILED", "COMPLETED_FAILED", "CANCELED"}

RUNS_OF_BACKFILL = """query Runs($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}"""
CAPTURED = """query Logs($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { eventConnection(afterCursor: null) { events {
    __typename ... on LogsCapturedEvent { fileKey stepKeys }
  } } } }
}"""
CAPTURED_LOGS = """query Read($runId: ID!, $fileKey: String!) {
  runOrError(runId: $runId) { ... on Run { capturedLogs(fileKey: $fileKey) { stdout stderr } } }
}"""


class GatedSite(SyntheticSite):
    """The synthetic site, whose listing page answers only once the test opens the gate: a run
    stays in flight for as long as the test needs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()

    async def events_page(self, request):
        await asyncio.to_thread(self.gate.wait, 120)
        return await super().events_page(request)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, deploy_settings, s3_endpoint):
    """The three processes, a synthetic catalog site, and an R2 (moto) bucket for compute logs."""
    work = tmp_path_factory.mktemp("topology")
    logs_bucket = f"compute-logs-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket=logs_bucket)
    media_bucket = f"media-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=media_bucket)
    r2 = R2Settings(endpoint_url=s3_endpoint, access_key_id="testing",
                    secret_access_key="testing", bucket=media_bucket,
                    public_base_url="https://media.example.test")
    settings = deploy_settings
    with GatedSite(events=make_events(6),
                       blogs={"blog": make_blog_posts(2, now_utc())}) as site:
        sources = work / "sources.yaml"
        sources.write_text(f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 1, request_timeout_seconds: 5}}
web:
  - {{name: infolomba, type: infolomba, base_url: "{site.url}", load_more_pages: 1}}
  - {{name: blog, type: blogger, base_url: "{site.url}/blog", freshness_days: 30}}
instagram:
  profiles: [infolomba.indonesia.id]
""")
        env = {
            **os.environ,
            **topology_environment(dataclasses.replace(settings, media=dataclasses.replace(settings.media, r2=r2)), work / "dagster_home"),
            "AWS_DEFAULT_REGION": "us-east-1",  # moto refuses R2's "auto" on some calls
            # production shape: posters and compute logs both in R2, one key pair
            "LOMBA_R2_ENDPOINT_URL": s3_endpoint,
            "LOMBA_R2_ACCESS_KEY_ID": "testing",
            "LOMBA_R2_SECRET_ACCESS_KEY": "testing",
            "LOMBA_R2_BUCKET": media_bucket,
            "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test",
            "LOMBA_COMPUTE_LOG_BUCKET": logs_bucket,
            "LOMBA_SOURCES_FILE": str(sources),
            "LOMBA_DAGSTER_DATABASE_URL": settings.database.dagster_url,
            "LOMBA_FETCH_ALLOW_HOSTS": site.host_port,  # the loopback site, explicitly
        }
        code_port, web_port = free_port(), free_port()
        with topology(env, work, code_port, web_port) as procs:
            yield {"procs": procs, "port": web_port, "s3": s3, "bucket": logs_bucket,
                   "site": site}


def backfill(port: int, windows: list[str], title: str) -> str:
    launched = graphql(port, LAUNCH, {"params": {
        "assetSelection": [{"path": ["web_listings"]}], "partitionNames": windows,
        "title": title}})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


LAUNCH_RUN = """mutation Run($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } }
} }"""
ENGINE_EVENTS = """query E($runId: ID!) { runOrError(runId: $runId) { ... on Run {
  eventConnection { events { __typename ... on EngineEvent { message } } } } } }"""
RUN_STATUS = """query S($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""


def launch_window(port: int, window: str, tags: dict | None = None) -> str:
    """A run of web_listings for one window, as the UI's "Materialize" launches it."""
    launched = graphql(port, LAUNCH_RUN, {"params": {
        "selector": {"repositoryLocationName": "lomba_pipeline",
                     "repositoryName": "__repository__", "jobName": "__ASSET_JOB",
                     "assetSelection": [{"path": ["web_listings"]}]},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": window}] + [
            {"key": k, "value": v} for k, v in (tags or {}).items()]},
    }})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def wait_for_run(deployment, run_id: str, watch=("code_server", "webserver", "daemon")) -> None:
    port = deployment["port"]

    def finished():
        status = graphql(port, RUN_STATUS, {"runId": run_id})["runOrError"]["status"]
        return status if status in {"SUCCESS", "FAILURE", "CANCELED"} else None

    status = wait_until(finished, 120, f"run {run_id}",
                        *(deployment["procs"][name] for name in watch))
    assert status == "SUCCESS", (status, run_failures(port))


def wait_for_backfill(deployment, backfill_id: str) -> str:
    port = deployment["port"]

    def finished():
        status = graphql(port, STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        return status if status in DONE else None

    status = wait_until(finished, 150, f"backfill {backfill_id}",
                        *deployment["procs"].values(), interval=2)
    assert status in {"COMPLETED_SUCCESS", "COMPLETED"}, (status, run_failures(port))
    return status


@pytest.mark.timeout(300)
def test_a_backfill_runs_across_the_three_processes_and_survives_a_code_server_restart(
    deployment, postgres
):
    port, procs = deployment["port"], deployment["procs"]
    first = backfill(port, ["2026-11-02-00:00", "2026-11-02-06:00"], "two windows")
    wait_for_backfill(deployment, first)
    mats = graphql(port, MATERIALIZED)["assetOrError"]["assetMaterializations"]
    assert {"2026-11-02-00:00", "2026-11-02-06:00"} <= {m["partition"] for m in mats}
    with postgres.cursor() as cur:
        cur.execute("SELECT source_name, count(*) AS n FROM raw_items GROUP BY 1 ORDER BY 1")
        counts = {r["source_name"]: r["n"] for r in cur.fetchall()}
    assert counts["infolomba"] == 6 and counts["blog"] >= 1, counts

    # the code machine is lost: the UI says so, the finished runs are still there
    procs["code_server"].kill()
    wait_until(lambda: location_state(port) == "error", 60, "the UI to see the code server gone",
               procs["webserver"], procs["daemon"])
    runs = graphql(port, RUNS_OF_BACKFILL, {"id": first})["runsOrError"]["results"]
    assert sorted(r["status"] for r in runs) == ["SUCCESS", "SUCCESS"]

    # it comes back on the same address; webserver and daemon reconnect without a restart
    procs["code_server"].start()
    wait_until(lambda: location_state(port) == "loaded", 120, "the code location to come back",
               *procs.values(), interval=1)
    # a run launched now goes through the daemon's queue to the restarted code server
    wait_for_run(deployment, launch_window(port, "2026-11-02-12:00"))
    # no duplicate rows: the same synthetic listings, found again
    with postgres.cursor() as cur:
        cur.execute("SELECT source_name, count(*) AS n FROM raw_items GROUP BY 1 ORDER BY 1")
        assert {r["source_name"]: r["n"] for r in cur.fetchall()} == counts


@pytest.mark.timeout(300)
def test_compute_logs_land_in_r2_and_the_ui_reads_them_back(deployment, postgres):
    port, s3, bucket = deployment["port"], deployment["s3"], deployment["bucket"]
    run_id = launch_window(port, "2026-11-03-00:00")
    wait_for_run(deployment, run_id)

    events = graphql(port, CAPTURED, {"runId": run_id})["runOrError"]["eventConnection"]["events"]
    captured = [e for e in events if e["__typename"] == "LogsCapturedEvent"]
    assert captured, "the run captured no compute logs"
    file_key = captured[0]["fileKey"]

    # the step's stderr object is in the R2 bucket under the run's id
    def uploaded():
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="dagster-compute-logs/")
        return [o["Key"] for o in listed.get("Contents", []) if run_id in o["Key"]]

    keys = wait_until(uploaded, 30, "the compute logs to be uploaded")
    stderr_key = next(k for k in keys if k.endswith(f"{file_key}.err"))
    stored = s3.get_object(Bucket=bucket, Key=stderr_key)["Body"].read().decode()
    assert "web_listings" in stored

    # the webserver (its own temp dir: nothing of the run on its disk) shows the same text
    logs = graphql(port, CAPTURED_LOGS, {"runId": run_id, "fileKey": file_key})
    assert logs["runOrError"]["capturedLogs"]["stderr"] == stored


@pytest.mark.timeout(300)
def test_a_code_server_crash_loses_neither_the_running_run_nor_the_queued_one(deployment):
    port, procs, site = deployment["port"], deployment["procs"], deployment["site"]
    site.gate.clear()
    try:
        # one run in flight (held at the listing page), one waiting behind the per-account limit
        hold = {"ig/account": "deploy-test"}
        running = launch_window(port, "2026-11-04-00:00", hold)
        before = site.requests.count("GET /events")
        wait_until(lambda: site.requests.count("GET /events") > before, 90,
                   "the first run to reach the site", *procs.values())
        queued = launch_window(port, "2026-11-04-06:00", hold)
        assert graphql(port, RUN_STATUS, {"runId": queued})["runOrError"]["status"] == "QUEUED"

        procs["code_server"].crash()
    finally:
        site.gate.set()
    # the running run finishes without its server
    wait_for_run(deployment, running, watch=("webserver", "daemon"))

    # the daemon tries the queued one, cannot reach the code server, and puts it back
    def put_back():
        events = graphql(port, ENGINE_EVENTS, {"runId": queued})["runOrError"][
            "eventConnection"]["events"]
        return any("re-submitting the run into the queue" in (e.get("message") or "")
                   for e in events)

    wait_until(put_back, 60, "the daemon to re-queue the run", procs["webserver"],
               procs["daemon"])
    # back in the queue, not failed: the daemon may already be taking it out again for its next
    # try (STARTING for a moment), which fails and re-queues it while the server is down
    status = graphql(port, RUN_STATUS, {"runId": queued})["runOrError"]["status"]
    assert status in {"QUEUED", "STARTING"}, status
    procs["code_server"].start()
    wait_for_run(deployment, queued)
