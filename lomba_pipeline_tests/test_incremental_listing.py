"""Incremental listings: catalogs list newest first, so a re-run stops following "next" /
load-more once ``stop_after_known_pages`` list pages in a row held only known complete, unchanged
cards. The daily full listing (the pass of the window ending at midnight WIB) reads every page,
so an edit deep in a listing is found within a day. Requests are counted on the SYNTHETIC site
(katalog pages of 5, infolomba pages of 10); rows in the real Postgres. The pass's time is the
window's end, never the wall clock."""

import pytest

from lomba_pipeline.catalog.ingestion.service import ingest_web, window_for_key
from lomba_pipeline.catalog.sources.config import SourcesConfigError, load_sources
from lomba_pipeline.demo.content import make_events
from lomba_pipeline.demo.site import SyntheticSite
from lomba_pipeline.resources.outbound import OutboundPolicy
from lomba_pipeline_tests.test_rerun_skips_known import DETAIL, MORE, complete_records

INCREMENTAL = window_for_key("2026-11-03-06:00")  # ends 12:00 WIB
DAILY_FULL = window_for_key("2026-11-03-18:00")  # ends 00:00 WIB: the day's full listing
KATALOG_LIST = "GET /katalog"  # the site records paths without their query


def sources_file(tmp_path, site, known_pages: str = "") -> object:
    setting = f", stop_after_known_pages: {known_pages}" if known_pages else ""
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 0, request_timeout_seconds: 5}}
web:
  - {{name: infolomba, type: infolomba, base_url: "{site.url}"{setting}}}
  - {{name: katalog, type: generic, list_urls: ["{site.url}/katalog?page=1"],
      item: article.lomba-card, title: "h2.judul a::text", link: "h2.judul a::attr(href)",
      fields: {{deadline: ".deadline::text"}}, next_page: "a.next::attr(href)",
      max_pages: 10, detail: {{description: ".isi ::text"}}{setting}}}
"""
    )
    return load_sources(path)


def run(postgres, config, site, window=INCREMENTAL):
    """One pass; (reports by source, the site's requests during it, the pass's log lines)."""
    before, lines = len(site.requests), []
    reports = ingest_web(
        postgres, config, window, lines.append, OutboundPolicy.from_setting(site.host_port)
    )
    return {r.name: r for r in reports}, site.requests[before:], lines


def katalog_details(asked):
    return [r for r in asked if r.startswith("GET /katalog/")]


@pytest.fixture
def events():
    # 20 listed: katalog pages 1-4 of 5 and an empty page 5 without "next"; infolomba's list
    # page (1-10), load-more 1 (11-20) and an empty load-more 2. The 21st is "new".
    *listed, new = make_events(21)
    return listed, new


def first_pass(postgres, config, site):
    reports, asked, _ = run(postgres, config, site)
    assert asked.count(KATALOG_LIST) == 5 and asked.count(MORE) == 2
    assert reports["katalog"].new == reports["infolomba"].new == 20
    complete_records(postgres)


@pytest.mark.parametrize("validator", [None, "etag"])
def test_an_unchanged_rerun_reads_only_the_first_list_page(postgres, tmp_path, events, validator):
    listed, _ = events
    with SyntheticSite(events=listed, list_validators=validator) as site:
        config = sources_file(tmp_path, site)
        first_pass(postgres, config, site)
        reports, asked, lines = run(postgres, config, site)
    assert asked.count(KATALOG_LIST) == 1 and katalog_details(asked) == []
    assert asked.count(MORE) == 0 and asked.count(DETAIL) == 0
    katalog, infolomba = reports["katalog"], reports["infolomba"]
    # the cards read still count as seen; the rest of the listing was simply not asked for
    assert (katalog.found, katalog.new, katalog.details_skipped) == (5, 0, 5)
    assert (infolomba.found, infolomba.new) == (10, 0)
    # said apart from a budget stop; with remembered pages, how many were left (pages 2-5)
    assert katalog.stopped_early == [] and katalog.status == "ok"
    assert not katalog.full_listing
    assert katalog.list_pages_not_read == (4 if validator else 1)
    metadata = katalog.as_metadata()
    assert metadata["stopped_early"] == ""
    assert metadata["listing_known"].startswith("listing known: stopped after list page 1")
    assert f"at least {katalog.list_pages_not_read} list pages not read" in metadata["listing_known"]
    assert any(line.startswith("[Web] infolomba: listing known: stopped after the list page")
               for line in lines)


def test_a_new_item_on_the_first_page_is_found(postgres, tmp_path, events):
    listed, new = events
    with SyntheticSite(events=listed) as site:
        config = sources_file(tmp_path, site)
        first_pass(postgres, config, site)
        listed.insert(0, new)  # newest first
        reports, asked, _ = run(postgres, config, site)
    # page 1 had a new card, so page 2 was read; it was known: no page 3
    assert asked.count(KATALOG_LIST) == 2 and asked.count(MORE) == 1
    assert katalog_details(asked) == [f"GET /katalog/{new.id}"] and asked.count(DETAIL) == 1
    assert reports["katalog"].new == reports["infolomba"].new == 1


def test_a_changed_card_on_the_first_page_is_fetched_again(postgres, tmp_path, events):
    listed, _ = events
    changed = listed[2]
    with SyntheticSite(events=listed) as site:
        config = sources_file(tmp_path, site)
        first_pass(postgres, config, site)
        changed.tanggal = "5 Januari - 9 Februari 2027"  # the deadline moved
        reports, asked, _ = run(postgres, config, site)
    assert asked.count(KATALOG_LIST) == 2
    assert katalog_details(asked) == [f"GET /katalog/{changed.id}"] and asked.count(DETAIL) == 1
    assert reports["katalog"].refreshed == reports["infolomba"].refreshed == 1


def test_an_incomplete_record_on_the_first_page_keeps_the_listing_followed(
    postgres, tmp_path, events
):
    listed, _ = events
    with SyntheticSite(events=listed) as site:
        config = sources_file(tmp_path, site)
        first_pass(postgres, config, site)
        with postgres.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE competitions SET levels = '{}' WHERE canonical_url LIKE %s",
                (f"%/katalog/{listed[1].id}",),
            )
            assert cur.rowcount == 1
        reports, asked, _ = run(postgres, config, site)
    assert asked.count(KATALOG_LIST) == 2
    assert katalog_details(asked) == [f"GET /katalog/{listed[1].id}"]
    assert reports["katalog"].requeued == 1


def test_an_item_added_deep_is_found_by_the_daily_full_listing_only(postgres, tmp_path, events):
    listed, new = events
    with SyntheticSite(events=listed) as site:
        config = sources_file(tmp_path, site)
        first_pass(postgres, config, site)
        listed.insert(16, new)  # katalog page 4; infolomba load-more 1
        reports, asked, _ = run(postgres, config, site)
        assert asked.count(KATALOG_LIST) == 1 and asked.count(MORE) == 0
        assert reports["katalog"].new == reports["infolomba"].new == 0

        reports, asked, lines = run(postgres, config, site, DAILY_FULL)
    # every page, to the end of the now longer listing (katalog page 6, load-more 3: empty)
    assert asked.count(KATALOG_LIST) == 6 and asked.count(MORE) == 3
    assert katalog_details(asked) == [f"GET /katalog/{new.id}"] and asked.count(DETAIL) == 1
    for name in ("katalog", "infolomba"):
        report = reports[name]
        assert (report.new, report.full_listing, report.listing_known) == (1, True, []), name
        assert report.as_metadata()["full_listing"] is True
    assert not any("listing known" in line for line in lines)


@pytest.mark.parametrize("known_pages, katalog_pages, load_more", [("0", 5, 2), ("2", 2, 1)])
def test_the_setting_says_how_many_known_pages_end_the_listing(
    postgres, tmp_path, events, known_pages, katalog_pages, load_more
):
    listed, _ = events
    with SyntheticSite(events=listed) as site:
        config = sources_file(tmp_path, site, known_pages)
        first_pass(postgres, config, site)
        reports, asked, _ = run(postgres, config, site)
    assert asked.count(KATALOG_LIST) == katalog_pages and asked.count(MORE) == load_more
    assert katalog_details(asked) == [] and asked.count(DETAIL) == 0
    assert bool(reports["katalog"].listing_known) == (known_pages != "0")


@pytest.mark.parametrize("value", ["-1", "1001", "satu"])
def test_stop_after_known_pages_is_validated(tmp_path, value):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "web:\n  - {name: a, type: infolomba, base_url: 'https://i.example', "
        f"stop_after_known_pages: {value}}}\n"
    )
    with pytest.raises(SourcesConfigError, match=r"web\.0\.infolomba\.stop_after_known_pages"):
        load_sources(path)
