"""Conditional list pages: a list page answered in full with an ETag or Last-Modified is asked
"changed since?" next pass. A 304 stands in with the cards the page held last time, so a known
complete item still skips its detail and an incomplete one is still fetched again. Requests and
304s are counted on the SYNTHETIC site; rows in the real Postgres."""

import pytest

from lomba_pipeline.catalog.ingestion.service import ingest_web
from lomba_pipeline.catalog.sources.config import InfolombaSource, load_sources
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

EVENTS = InfolombaSource.model_fields["list_path"].default  # infolomba's list page, as asked
KATALOG_PAGES = ["/katalog?page=1", "/katalog?page=2", "/katalog?page=3", "/katalog?page=4"]


def sources_file(tmp_path, site) -> object:
    """Every list page asked on every pass (``stop_after_known_pages: 0``): these tests are about
    how each page is asked; stopping at a known listing is test_incremental_listing's."""
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 0, request_timeout_seconds: 5}}
web:
  - {{name: infolomba, type: infolomba, base_url: "{site.url}", stop_after_known_pages: 0}}
  - name: katalog
    type: generic
    stop_after_known_pages: 0
    list_urls: ["{site.url}/katalog?page=1"]
    item: article.lomba-card
    title: "h2.judul a::text"
    link: "h2.judul a::attr(href)"
    fields: {{deadline: ".deadline::text"}}
    next_page: "a.next::attr(href)"
    max_pages: 10
    detail: {{description: ".isi ::text"}}
"""
    )
    return load_sources(path)


def run(postgres, config, site):
    """One pass; (reports by source, the site's requests during it, its 304s during it)."""
    asked, answered_304 = len(site.requests), len(site.not_modified)
    reports = ingest_web(
        postgres, config, WINDOW, lambda _: None, OutboundPolicy.from_setting(site.host_port)
    )
    return (
        {r.name: r for r in reports},
        site.requests[asked:],
        site.not_modified[answered_304:],
    )


def complete_except(postgres, event):
    """Every stored item extracted complete, except both items of ``event`` (no levels)."""
    complete_records(postgres)
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute(
            """UPDATE competitions SET levels = '{}'
               WHERE canonical_url LIKE %s OR canonical_url LIKE %s""",
            (f"%-{event.id}", f"%/katalog/{event.id}"),
        )
        assert cur.rowcount == 2


def katalog_details(asked):
    return [r for r in asked if r.startswith("GET /katalog/")]


@pytest.fixture
def events():
    # 12 events: infolomba list (1-10) + load-more 1 (11-12) + 2 (empty);
    # katalog pages of 5: 1-5, 6-10, 11-12, and an empty page 4 without a "next" link
    return make_events(12)


@pytest.mark.parametrize("validator", ["etag", "last-modified"])
def test_unchanged_list_pages_answer_304_and_only_the_incomplete_record_is_fetched_again(
    postgres, tmp_path, events, validator
):
    incomplete = events[3]  # on infolomba's list page and katalog page 1
    with SyntheticSite(events=events, list_validators=validator) as site:
        config = sources_file(tmp_path, site)
        first, asked, not_modified = run(postgres, config, site)
        assert not_modified == []
        assert asked.count(DETAIL) == 12 and len(katalog_details(asked)) == 12
        complete_except(postgres, incomplete)
        stored = raw_rows(postgres)

        second, asked, not_modified = run(postgres, config, site)
    # every GET list page answered 304: no list body read
    assert sorted(not_modified) == [EVENTS, *KATALOG_PAGES]
    assert asked.count("GET /katalog") == len(KATALOG_PAGES)  # each asked once, each a 304
    # infolomba's load-more pages are POSTs, which HTTP never answers 304: read as before
    assert asked.count(MORE) == 2
    # known complete details not fetched; the incomplete one fetched again from its card's URL
    assert asked.count(DETAIL) == 1
    assert katalog_details(asked) == [f"GET /katalog/{incomplete.id}"]
    for name in ("infolomba", "katalog"):
        report = second[name]
        assert (report.found, report.details_skipped, report.requeued) == (12, 11, 1), name
        assert report.status == "ok", report.errors
    assert second["katalog"].not_modified == 4 and second["infolomba"].not_modified == 1
    # the complete rows are untouched; the incomplete ones went back to extraction
    after = {r["id"]: r for r in raw_rows(postgres)}
    incomplete_ids = {r["id"] for r in stored if r["title"] == incomplete.title}
    assert len(incomplete_ids) == 2
    for row in stored:
        if row["id"] in incomplete_ids:
            assert after[row["id"]]["needs_extraction"]
        else:
            assert after[row["id"]] == row


def test_a_changed_page_is_read_in_full_and_its_changed_card_opened(postgres, tmp_path, events):
    with SyntheticSite(events=events, list_validators="etag") as site:
        config = sources_file(tmp_path, site)
        run(postgres, config, site)
        complete_records(postgres)
        events[7].tanggal = "5 Januari - 9 Februari 2027"  # katalog page 2, infolomba list
        report, asked, not_modified = run(postgres, config, site)
        # page 2 changed: read in full, its new validators kept; the others still 304
        assert not_modified == ["/katalog?page=1", "/katalog?page=3", "/katalog?page=4"]
        assert katalog_details(asked) == [f"GET /katalog/{events[7].id}"]
        assert asked.count(DETAIL) == 1  # infolomba's list changed too
        assert report["katalog"].refreshed == 1 and report["infolomba"].refreshed == 1
        _, asked, not_modified = run(postgres, config, site)
    assert sorted(not_modified) == [EVENTS, *KATALOG_PAGES]
    assert katalog_details(asked) == [] and asked.count(DETAIL) == 0


def test_a_304_never_hides_an_item_that_is_not_stored(postgres, tmp_path, events):
    """The validators survive an emptied catalog; the remembered cards are then all unknown."""
    with SyntheticSite(events=events, list_validators="etag") as site:
        config = sources_file(tmp_path, site)
        run(postgres, config, site)
        with postgres.cursor() as cur:
            cur.execute("TRUNCATE raw_items RESTART IDENTITY CASCADE")
        report, asked, not_modified = run(postgres, config, site)
    assert sorted(not_modified) == [EVENTS, *KATALOG_PAGES]
    assert asked.count(DETAIL) == 12 and len(katalog_details(asked)) == 12
    assert report["infolomba"].new == 12 and report["katalog"].new == 12
    captions = [r["caption"] for r in raw_rows(postgres)]
    assert all(captions), "every item was stored with its detail text"


def test_changed_selectors_read_every_list_page_in_full_again(postgres, tmp_path, events):
    """Remembered cards were parsed with the old entry: a 304 must not stand in for new ones."""
    with SyntheticSite(events=events, list_validators="etag") as site:
        config = sources_file(tmp_path, site)
        run(postgres, config, site)
        complete_records(postgres)
        path = tmp_path / "sources.yaml"
        path.write_text(path.read_text().replace(
            'fields: {deadline: ".deadline::text"}', 'fields: {tenggat: ".deadline::text"}'
        ))
        report, asked, not_modified = run(postgres, load_sources(path), site)
        assert not_modified == [EVENTS]  # infolomba's entry did not change
        # the cards now carry another hint: changed cards, each detail read again
        assert len(katalog_details(asked)) == 12 and report["katalog"].refreshed == 12
        _, asked, not_modified = run(postgres, load_sources(path), site)
    assert sorted(not_modified) == [EVENTS, *KATALOG_PAGES] and katalog_details(asked) == []


def test_a_site_without_validators_is_never_asked_conditionally(postgres, tmp_path, events):
    with SyntheticSite(events=events) as site:
        config = sources_file(tmp_path, site)
        run(postgres, config, site)
        complete_records(postgres)
        report, asked, not_modified = run(postgres, config, site)
    assert not_modified == [] and report["katalog"].not_modified == 0
    assert katalog_details(asked) == [] and report["katalog"].details_skipped == 12
