"""Re-runs skip what is known: a known, complete item whose list card is unchanged is not
opened again; a changed card or an incomplete record is. Load-more pages follow the site until a
page adds nothing new. Requests are counted on the SYNTHETIC site; rows in the real Postgres."""

import pytest

from lomba_pipeline.catalog.ingestion.service import ingest_web, window_for_key
from lomba_pipeline.catalog.sources.config import SourcesConfigError, load_sources
from lomba_pipeline.demo.content import make_events
from lomba_pipeline.demo.site import SyntheticSite
from lomba_pipeline.resources.outbound import OutboundPolicy

WINDOW = window_for_key("2026-11-03-06:00")
DETAIL = "POST /load-details"
MORE = "POST /load-event-2"


def config_for(tmp_path, site, infolomba: str = ""):
    """Every load-more page read on every pass (``stop_after_known_pages: 0``): these tests are
    about what is done with each card; stopping at a known listing is test_incremental_listing's."""
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 0, request_timeout_seconds: 5}}
web:
  - {{name: infolomba, type: infolomba, base_url: "{site.url}",
      stop_after_known_pages: 0{infolomba}}}
"""
    )
    return load_sources(path)


def run(postgres, config, site):
    """One ingestion pass; returns (report, the site's requests during the pass)."""
    before = len(site.requests)
    [report] = ingest_web(
        postgres, config, WINDOW, lambda _: None, OutboundPolicy.from_setting(site.host_port)
    )
    return report, site.requests[before:]


def complete_records(postgres, incomplete_ids=()):
    """Every stored item extracted with every AI field, except ``incomplete_ids`` (no levels)."""
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_items SET needs_extraction = false")
        cur.execute(
            """INSERT INTO competitions (raw_item_id, canonical_url, organizer, start_date,
                   end_date, categories, levels)
               SELECT id, canonical_url, 'Panitia', '2026-12-01', '2026-12-20',
                      '{Akademik & Sains}',
                      CASE WHEN external_id = ANY(%s) THEN '{}'::text[]
                           ELSE '{SMA}'::text[] END
               FROM raw_items""",
            ([str(i) for i in incomplete_ids],),
        )


def raw_rows(postgres):
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT id, external_id, title, caption, hints, card_hash, needs_extraction,"
            " last_seen_at FROM raw_items ORDER BY id"
        )
        return [dict(r) for r in cur.fetchall()]


@pytest.fixture
def events():
    return make_events(25)


def test_a_second_pass_over_an_unchanged_site_opens_no_detail_and_stores_nothing(
    postgres, tmp_path, events
):
    with SyntheticSite(events=events) as site:
        config = config_for(tmp_path, site)
        first, asked = run(postgres, config, site)
        assert (first.new, asked.count(DETAIL)) == (25, 25)
        complete_records(postgres)
        stored = raw_rows(postgres)
        assert all(r["card_hash"] for r in stored)
        second, asked = run(postgres, config, site)
    assert asked.count(DETAIL) == 0
    assert second.details_skipped == 25 and second.found == 25
    assert (second.new, second.requeued, second.refreshed, second.complete) == (0, 0, 0, 25)
    assert raw_rows(postgres) == stored  # not one column of one row written


def test_a_changed_card_is_opened_again_and_its_row_refreshed(postgres, tmp_path, events):
    with SyntheticSite(events=events) as site:
        config = config_for(tmp_path, site)
        run(postgres, config, site)
        complete_records(postgres)
        changed = events[12]  # on load-more page 1
        changed.tanggal = "5 Januari - 9 Februari 2027"  # the deadline moved
        changed.description = "[SINTETIS] Pendaftaran diperpanjang sampai Februari."
        report, asked = run(postgres, config, site)
    assert asked.count(DETAIL) == 1
    assert (report.details_skipped, report.refreshed, report.new) == (24, 1, 0)
    row = next(r for r in raw_rows(postgres) if r["external_id"] == str(changed.id))
    assert row["hints"]["tanggal"] == changed.tanggal
    assert row["caption"] == changed.description


def test_an_incomplete_or_queued_record_is_opened_again(postgres, tmp_path, events):
    with SyntheticSite(events=events) as site:
        config = config_for(tmp_path, site)
        run(postgres, config, site)
        incomplete, queued = events[3], events[20]
        complete_records(postgres, incomplete_ids=[incomplete.id])
        with postgres.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "UPDATE raw_items SET needs_extraction = true WHERE external_id = %s",
                (str(queued.id),),
            )
        report, asked = run(postgres, config, site)
    assert asked.count(DETAIL) == 2
    assert report.details_skipped == 23
    # the incomplete one goes back to extraction; the queued one is complete (never re-sent)
    assert (report.requeued, report.complete, report.new) == (1, 24, 0)


def test_a_detail_that_failed_is_read_again_and_fills_the_row(postgres, tmp_path, events):
    events[7].detail = "missing"
    with SyntheticSite(events=events) as site:
        config = config_for(tmp_path, site)
        run(postgres, config, site)
        complete_records(postgres)
        failed = next(r for r in raw_rows(postgres) if r["external_id"] == str(events[7].id))
        assert failed["caption"] is None and "detail_error" in failed["hints"]
        events[7].detail = "ok"
        report, asked = run(postgres, config, site)
    assert asked.count(DETAIL) == 1 and report.refreshed == 1
    row = next(r for r in raw_rows(postgres) if r["external_id"] == str(events[7].id))
    assert row["caption"] == events[7].description and "detail_error" not in row["hints"]


def test_load_more_follows_the_site_and_stops_at_the_first_empty_page(postgres, tmp_path, events):
    with SyntheticSite(events=events) as site:
        report, asked = run(postgres, config_for(tmp_path, site), site)
    # pages of 10: list (1-10), more 1 (11-20), more 2 (21-25), more 3 empty → stop
    assert report.new == 25 and asked.count(MORE) == 3


def test_load_more_stops_at_a_page_that_only_repeats_cards(postgres, tmp_path, events):
    with SyntheticSite(events=events, repeat_last_page=True) as site:
        report, asked = run(postgres, config_for(tmp_path, site), site)
    # more 3 answers cards 21-25 again: nothing new, so no more 4
    assert report.new == 25 and asked.count(MORE) == 3
    assert asked.count(DETAIL) == 25  # the repeated cards are not opened twice


def test_load_more_pages_still_caps_when_set(postgres, tmp_path, events):
    with SyntheticSite(events=events) as site:
        report, asked = run(postgres, config_for(tmp_path, site, ", load_more_pages: 1"), site)
    assert report.new == 20 and asked.count(MORE) == 1


@pytest.mark.parametrize(
    "setting, field",
    [
        ("load_more_seconds: 0", "load_more_seconds: Input should be greater than 0"),
        ("load_more_seconds: 99999", "load_more_seconds: Input should be less than or equal"),
        ("load_more_pages: -1", "load_more_pages: Input should be greater than or equal to 0"),
    ],
)
def test_load_more_limits_are_validated(tmp_path, setting, field):
    path = tmp_path / "sources.yaml"
    path.write_text(
        f'web:\n  - {{name: a, type: infolomba, base_url: "https://i.example", {setting}}}\n'
    )
    with pytest.raises(SourcesConfigError, match=field):
        load_sources(path)


def test_an_unchanged_blogger_feed_is_asked_conditionally_and_a_changed_one_read(
    postgres, tmp_path
):
    from lomba_pipeline.demo.content import make_blog_posts

    posts = make_blog_posts(4, WINDOW.end)
    with SyntheticSite(blogs={"blog": posts}) as site:
        path = tmp_path / "sources.yaml"
        path.write_text(
            "crawl: {per_host_delay_seconds: 0, max_request_retries: 0}\n"
            f'web:\n  - {{name: blog, type: blogger, base_url: "{site.url}/blog"}}\n'
        )
        config = load_sources(path)
        first, _ = run(postgres, config, site)
        assert first.new == 3 and site.not_modified == []
        again, _ = run(postgres, config, site)  # items not extracted yet: read in full again
        assert again.found == 3 and site.not_modified == []
        complete_records(postgres)
        stored = raw_rows(postgres)
        second, asked = run(postgres, config, site)
        # one conditional GET, answered 304: nothing read, nothing written
        assert asked == ["GET /blog/feeds/posts/default"]
        assert site.not_modified == ["/blog/feeds/posts/default"]
        assert (second.status, second.found, second.new) == ("ok", 0, 0)
        assert raw_rows(postgres) == stored
        site.blogs["blog"] = make_blog_posts(5, WINDOW.end)  # a new post: a new ETag
        third, _ = run(postgres, config, site)
        assert len(site.not_modified) == 1
        assert third.new == 1 and third.found == 4
        # the new item is not extracted yet: the feed is read in full while it waits
        fourth, asked = run(postgres, config, site)
        assert asked == ["GET /blog/feeds/posts/default"] and len(site.not_modified) == 1
        assert (fourth.found, fourth.pending, fourth.complete) == (4, 1, 3)
        # nothing stored any more (a restored or emptied database): read in full, stored again
        with postgres.cursor() as cur:
            cur.execute("TRUNCATE raw_items RESTART IDENTITY CASCADE")
        fifth, _ = run(postgres, config, site)
    assert len(site.not_modified) == 1 and fifth.new == 4
