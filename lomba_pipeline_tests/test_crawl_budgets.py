"""Time budgets of a crawl, read on an injected clock: the load-more budget of a source and the
pass deadline stop the crawl where the clock passes them, and the report says which source
stopped early and why. The clock is the SYNTHETIC site's own: every request it has served counts
as 10 s, so "time" follows the crawl's requests exactly (one request at a time), never the wall."""

from lomba_pipeline.catalog.ingestion.service import ingest_web
from lomba_pipeline.catalog.sources.config import load_sources
from lomba_pipeline.demo.content import make_events
from lomba_pipeline.demo.site import SyntheticSite
from lomba_pipeline.resources.outbound import OutboundPolicy
from lomba_pipeline_tests.test_rerun_skips_known import (
    DETAIL,
    MORE,
    WINDOW,
    complete_records,
    raw_rows,
)

SECONDS_PER_REQUEST = 10


def config_for(tmp_path, site, crawl: str = "", infolomba: str = ""):
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
crawl: {{desired_concurrency: 1, max_concurrency: 1, per_host_delay_seconds: 0,
        max_request_retries: 0, request_timeout_seconds: 5{crawl}}}
web:
  - {{name: infolomba, type: infolomba, base_url: "{site.url}"{infolomba}}}
"""
    )
    return load_sources(path)


def run(postgres, config, site):
    def clock() -> float:
        return SECONDS_PER_REQUEST * len(site.requests)

    lines: list[str] = []
    before = len(site.requests)
    [report] = ingest_web(
        postgres, config, WINDOW, lines.append, OutboundPolicy.from_setting(site.host_port), clock
    )
    return report, site.requests[before:], lines


def test_load_more_stops_when_the_clock_passes_its_budget(postgres, tmp_path):
    with SyntheticSite(events=make_events(45)) as site:
        # list page at 10 s, load-more 1 at 20 s, load-more 2 at 30 s: past 25 s, no page 3
        config = config_for(tmp_path, site, infolomba=", load_more_seconds: 25")
        report, asked, lines = run(postgres, config, site)
    assert asked.count(MORE) == 2
    assert report.found == report.new == 30  # the cards of the three pages read, with details
    assert asked.count(DETAIL) == 30
    reason = "load-more stopped at page 3: time budget of 25 s used"
    assert report.stopped_early == [reason]
    assert report.as_metadata()["stopped_early"] == reason
    assert report.status == "ok with errors" and reason in report.errors
    assert f"[Web] infolomba: stopped early: {reason}" in lines


def test_the_pass_deadline_stops_further_requests_and_keeps_the_cards_found(postgres, tmp_path):
    events = make_events(25)
    with SyntheticSite(events=events) as site:
        # list, load-more 1-3 (the 3rd is empty), then details: the 7th request would start at
        # 60 s, past the 55 s deadline, so only 2 details are read
        config = config_for(tmp_path, site, crawl=", pass_timeout_seconds: 55")
        report, asked, _ = run(postgres, config, site)
        assert (asked.count(MORE), asked.count(DETAIL), len(asked)) == (3, 2, 6)
        reason = "pass deadline of 55 s reached: 23 requests not made"
        assert report.stopped_early == [reason]
        assert report.as_metadata()["stopped_early"] == reason
        # every card found is stored; those whose detail was not read say so
        rows = raw_rows(postgres)
        assert report.new == len(rows) == 25
        unread = [r for r in rows if "detail_error" in r["hints"]]
        assert len(unread) == 23 and all(r["caption"] is None for r in unread)

        # once extracted, the next pass (time to spare) reads exactly the details left unread
        complete_records(postgres)
        config = config_for(tmp_path, site)
        again, asked, _ = run(postgres, config, site)
    assert asked.count(DETAIL) == 23 and again.stopped_early == []
    assert again.refreshed == 23
    assert all(r["caption"] and "detail_error" not in r["hints"] for r in raw_rows(postgres))


def test_a_pass_within_its_budgets_says_nothing_stopped(postgres, tmp_path):
    with SyntheticSite(events=make_events(12)) as site:
        report, asked, _ = run(postgres, config_for(tmp_path, site), site)
    assert report.new == 12 and report.stopped_early == [] and report.errors == []
    assert report.as_metadata()["stopped_early"] == ""
