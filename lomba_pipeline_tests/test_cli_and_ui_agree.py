"""``lomba run`` and a run launched in the Dagster UI are one code path: the same rows."""

import os
import re
import time

import pytest

from lomba_pipeline.demo.content import make_blog_posts, make_events
from lomba_pipeline.demo.site import SyntheticSite, now_utc
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.processes import graphql, lomba, lomba_dev

LAUNCH = """mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""
LATEST = """{ assetOrError(assetKey: {path: ["reviewed_competitions"]}) {
  ... on Asset { assetMaterializations(limit: 1) { timestamp } } } }"""

RAW = """SELECT r.source_kind, r.source_name, r.canonical_url, r.external_id, r.title, r.caption,
                 r.image_url, r.window_start, r.hints, r.image_error, i.sha256
          FROM raw_items r LEFT JOIN images i ON i.id = r.image_id ORDER BY r.canonical_url"""
RECORDS = """SELECT canonical_url, title, organizer, start_date, end_date, event_start_date,
                     event_end_date, categories, levels, fee_amount, prize, contact,
                     registration_url, is_competition, extraction_status, extracted_from,
                     review_status
             FROM competitions ORDER BY canonical_url"""


def _rows(postgres) -> tuple[list, list]:
    with postgres.cursor() as cur:
        cur.execute(RAW)
        raw = [dict(r) for r in cur.fetchall()]
        cur.execute(RECORDS)
        records = [dict(r) for r in cur.fetchall()]
    return raw, records


def _empty(postgres) -> None:
    with postgres.cursor() as cur:
        cur.execute("TRUNCATE raw_items, images, competitions, extraction_attempts,"
                    " duplicate_candidates RESTART IDENTITY CASCADE")


@pytest.mark.timeout(420)
def test_lomba_run_and_a_ui_launched_run_store_identical_rows(postgres, tmp_path,
                                                             own_dagster_database):
    sources = tmp_path / "sources.yaml"
    with SyntheticSite(events=make_events(5), blogs={"blog": make_blog_posts(2, now_utc())}) as site:
        sources.write_text(
            "crawl: {per_host_delay_seconds: 0, max_request_retries: 1}\n"
            f'web:\n  - {{name: infolomba, type: infolomba, base_url: "{site.url}",'
            " load_more_pages: 1}\n"
            f'  - {{name: blog, type: blogger, base_url: "{site.url}/blog", freshness_days: 30}}\n'
        )
        env = {**os.environ, "LOMBA_SOURCES_FILE": str(sources),
               "LOMBA_DAGSTER_DATABASE_URL": own_dagster_database,
               "LOMBA_FETCH_ALLOW_HOSTS": site.host_port}  # the loopback site, explicitly
        out = lomba("run", env=env)
        assert out.returncode == 0, out.stderr
        window = re.search(r"for window (\S+)", out.stdout).group(1)
        by_cli = _rows(postgres)
        assert len(by_cli[0]) == 6 and len(by_cli[1]) == 6

        _empty(postgres)
        port = free_port()
        with lomba_dev(port, env, extra_args=("--no-admin",)):
            launched_at = time.time()
            launched = graphql(port, LAUNCH, {"params": {
                "selector": {"repositoryLocationName": "lomba_pipeline",
                             "repositoryName": "__repository__", "jobName": "web_ingest_job"},
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": window}]},
            }})["launchRun"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            deadline = time.time() + 240
            while time.time() < deadline:
                mats = graphql(port, LATEST)["assetOrError"]["assetMaterializations"]
                if mats and float(mats[0]["timestamp"]) / 1000 > launched_at:
                    break
                time.sleep(2)
            else:
                raise AssertionError("the automation never reached reviewed_competitions")
        by_ui = _rows(postgres)
    assert by_ui == by_cli
