"""End to end through the real Dagster UI server: a GraphQL backfill of ``web_listings`` over two
6-hour windows against a local SYNTHETIC site, then the scrape assets in the lineage view."""

import os
import time

import pytest

from lomba_pipeline.demo.content import make_blog_posts, make_events
from lomba_pipeline.demo.site import SyntheticSite, now_utc
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.processes import dev_output, graphql, launch_chromium, lomba_dev

WINDOWS = ["2026-11-02-00:00", "2026-11-02-06:00"]

LAUNCH = """mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""
STATUS = """query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}"""
# only the backfilled windows: `lomba run` tests of the same session materialize today's window
MATERIALIZED = """query Mat {
  assetOrError(assetKey: {path: ["web_listings"]}) {
    ... on Asset { assetMaterializations(partitions: ["2026-11-02-00:00", "2026-11-02-06:00"]) {
      partition metadataEntries {
      label ... on TextMetadataEntry { text }
    } } }
  }
}"""


FAILURES = """query Failures {
  runsOrError { ... on Runs { results { runId status eventConnection { events {
    __typename
    ... on ExecutionStepFailureEvent { error { message cause { message stack } } }
    ... on RunFailureEvent { message }
    ... on EngineEvent { message error { message } }
  } } } } }
}"""


def run_failures(port: int) -> list:
    """What went wrong in the runs, for the assertion message."""
    runs = graphql(port, FAILURES)["runsOrError"]["results"]
    found = []
    for run in runs:
        for event in run["eventConnection"]["events"]:
            error = event.get("error") or {}
            cause = error.get("cause") or {}
            error = (
                (error.get("message") or "")
                + (cause.get("message") or "")
                + "".join((cause.get("stack") or [])[-3:])
            )
            if error or event["__typename"] == "RunFailureEvent":
                found.append((run["status"], event.get("message"), (error or "")[-1500:]))
    return found


def wait_for_ui(proc, port: int, seconds: float = 150) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, dev_output(proc)
        try:
            data = graphql(port, "{ workspaceOrError { __typename } }")
            if data["workspaceOrError"]["__typename"] == "Workspace":
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError("Dagster UI never answered")


@pytest.mark.timeout(420)
def test_backfill_two_windows_through_graphql_and_see_the_scrape_assets(postgres, tmp_path):
    sources = tmp_path / "sources.yaml"
    with SyntheticSite(
        events=make_events(12), blogs={"blog": make_blog_posts(3, now_utc())}
    ) as site:
        sources.write_text(
            f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 1, request_timeout_seconds: 5}}
web:
  - {{name: infolomba, type: infolomba, base_url: "{site.url}", load_more_pages: 1}}
  - {{name: blog, type: blogger, base_url: "{site.url}/blog", freshness_days: 30}}
instagram:
  profiles: [infolomba.indonesia.id]
"""
        )
        port = free_port()
        env = {**os.environ, "LOMBA_SOURCES_FILE": str(sources),
               "LOMBA_FETCH_ALLOW_HOSTS": site.host_port}  # the loopback site, explicitly
        with lomba_dev(port, env) as proc:
            wait_for_ui(proc, port)
            launched = graphql(
                port,
                LAUNCH,
                {
                    "params": {
                        "assetSelection": [{"path": ["web_listings"]}],
                        "partitionNames": WINDOWS,
                        "title": "web listings, two windows",
                    }
                },
            )["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            status = None
            deadline = time.time() + 240
            while time.time() < deadline:
                status = graphql(port, STATUS, {"id": launched["backfillId"]})[
                    "partitionBackfillOrError"
                ]["status"]
                if status in {"COMPLETED_SUCCESS", "COMPLETED", "FAILED", "COMPLETED_FAILED"}:
                    break
                time.sleep(2)
            assert status in {"COMPLETED_SUCCESS", "COMPLETED"}, (status, run_failures(port))
            mats = graphql(port, MATERIALIZED)["assetOrError"]["assetMaterializations"]
            assert sorted(m["partition"] for m in mats) == WINDOWS  # one each
            # a backfill of past windows says that the sites served their current list
            for mat in mats:
                coverage = next(e["text"] for e in mat["metadataEntries"]
                                if e["label"] == "window_coverage")
                assert "not this window's" in coverage

            with postgres.cursor() as cur:
                cur.execute(
                    "SELECT source_name, count(*) AS n, min(window_start) AS first"
                    " FROM raw_items GROUP BY source_name ORDER BY source_name"
                )
                counts = {r["source_name"]: (r["n"], r["first"]) for r in cur.fetchall()}
            # the second window found the same listings: no duplicate rows
            assert {name: n for name, (n, _) in counts.items()} == {"blog": 2, "infolomba": 12}
            assert site.requests.count("GET /events") == 2

            check_lineage_in_browser(port)


def check_lineage_in_browser(port: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            # the lineage view of the "scrape" group (poster_images shows as its downstream link)
            page.goto(
                f"http://127.0.0.1:{port}/locations/lomba_pipeline/asset-groups/scrape",
                timeout=60_000,
            )
            page.get_by_text("Lineage", exact=True).first.wait_for(timeout=60_000)
            for name in ("web_listings", "ig_profile_posts", "manual_link_posts", "poster_images"):
                page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            # the lineage edges: each scrape asset feeds poster_images
            assert page.locator("svg path").count() >= 3
            # and the chain goes on to the reviewed records
            page.goto(
                f"http://127.0.0.1:{port}/assets/competitions?view=lineage"
                "&lineageScope=downstream&lineageDepth=2",
                timeout=60_000,
            )
            page.get_by_text("reviewed_competitions", exact=True).first.wait_for(timeout=60_000)
            page.get_by_text("nightly_catalog_report", exact=True).first.wait_for(timeout=60_000)
        finally:
            browser.close()
