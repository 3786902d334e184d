"""A manual link through the running daemon, as a person submits one: shared by the test and
``bench/manual_link_latency.py``.

``lomba dev`` runs with the fake Instagram as the scraper's API; ``lomba links add`` submits a
post URL; then nothing but Dagster moves it on: ``manual_link_sensor`` launches the link's run,
the automation sensor materializes ``poster_images → extracted_fields → competitions →
reviewed_competitions``. Timings are taken from the Dagster instance's own run records.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.fakes.fake_instagram import FakeInstagram, FakePost
from lomba_pipeline_tests.processes import graphql, lomba, lomba_dev

SESSIONID = "77%3AFakeSessionForTests%3A12%3AAYfake"
CHAIN = ("manual_link_posts", "poster_images", "extracted_fields", "competitions",
         "reviewed_competitions")
LATEST = """query Latest($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset { assetMaterializations(limit: 1) { runId timestamp } }
  }
}"""
RUNS = """{ runsOrError { ... on Runs { results {
  runId status startTime endTime tags { key value } assetSelection { path }
} } } }"""


@dataclass
class FlowResult:
    seconds_to_review_state: float
    materialized_at: dict[str, float]  # asset → seconds after submission
    runs: list[dict]
    canonical_url: str


def run_manual_link_through_daemon(deadline_seconds: float = 240,
                                   dagster_database_url: str | None = None) -> FlowResult:
    post = FakePost(3_900_000_000_000_000_077, "LOMBA POSTER NASIONAL [SINTETIS]\\n"
                    "Pendaftaran 1-20 Desember 2026. Terbuka untuk mahasiswa.",
                    datetime(2026, 11, 20, 9, tzinfo=UTC))
    with FakeInstagram() as fake:
        fake.add_profile("pengirim.lomba", [post])
        env = {
            **os.environ,
            "LOMBA_IG_SCRAPER_USERNAME": "scraper",
            "LOMBA_IG_SCRAPER_SESSIONID": SESSIONID,
            "LOMBA_IG_API_BASE_URL": fake.url,
            "LOMBA_IG_REQUEST_DELAY_SECONDS": "0",
            **({"LOMBA_DAGSTER_DATABASE_URL": dagster_database_url}
               if dagster_database_url else {}),
            # the fake's poster URLs are on loopback: allowed explicitly, as a test site
            "LOMBA_FETCH_ALLOW_HOSTS": fake.url.split("://", 1)[1].rstrip("/"),
        }
        port = free_port()
        with lomba_dev(port, env, extra_args=("--no-admin",)):
            _wait_for_daemon_sensors(port)
            url = f"https://www.instagram.com/p/{post.shortcode}/"
            submitted = time.time()
            added = lomba("links", "add", url, env=env)
            assert added.returncode == 0, added.stderr
            done: dict[str, float] = {}
            while time.time() - submitted < deadline_seconds and len(done) < len(CHAIN):
                for asset in CHAIN:
                    mats = graphql(port, LATEST, {"path": [asset]})["assetOrError"]
                    mats = (mats or {}).get("assetMaterializations") or []
                    if mats and float(mats[0]["timestamp"]) / 1000 >= submitted:
                        done.setdefault(asset, float(mats[0]["timestamp"]) / 1000 - submitted)
                time.sleep(1)
            runs = graphql(port, RUNS)["runsOrError"]["results"]
    missing = [a for a in CHAIN if a not in done]
    assert not missing, f"not materialized within {deadline_seconds} s: {missing}; runs {runs}"
    return FlowResult(done["reviewed_competitions"], done, runs, url)


def _wait_for_daemon_sensors(port: int, seconds: float = 90) -> None:
    """Until the daemon has ticked the sensors once (so a tick right away is not the first)."""
    query = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
      repositoryLocationName: "lomba_pipeline"}) { ... on Sensors { results {
      name sensorState { ticks(limit: 1) { status } } } } } }"""
    deadline = time.time() + seconds
    while time.time() < deadline:
        sensors = graphql(port, query)["sensorsOrError"].get("results") or []
        ticked = {s["name"] for s in sensors if s["sensorState"]["ticks"]}
        if {"manual_link_sensor", "catalog_automation_sensor"} <= ticked:
            return
        time.sleep(1)
    raise AssertionError("the daemon never ticked the catalog sensors")
