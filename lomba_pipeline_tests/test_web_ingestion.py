"""crawlee against local SYNTHETIC catalog sites; rows land in the real Postgres.

The sites listen on 127.0.0.1, which the outbound-fetch policy refuses: each test allows its own
site's ``127.0.0.1:PORT`` explicitly, as a deployment would with ``LOMBA_FETCH_ALLOW_HOSTS``."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from lomba_pipeline.catalog.ingestion.assets import CatalogSources, poster_images, web_listings
from lomba_pipeline.catalog.ingestion.service import ingest_web, window_for_key
from lomba_pipeline.catalog.sources.config import load_sources
from lomba_pipeline.demo.content import make_blog_posts, make_events
from lomba_pipeline.demo.site import SyntheticSite
from lomba_pipeline.resources.outbound import OutboundFetch, OutboundPolicy

WINDOW = window_for_key("2026-11-03-06:00")


def allowing(site) -> OutboundPolicy:
    """The strict policy plus this one local site (and nothing else on loopback)."""
    return OutboundPolicy.from_setting(site.host_port)


def write_sources(tmp_path, site_url: str, extra: str = "") -> str:
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"""
crawl: {{desired_concurrency: 4, max_concurrency: 8, per_host_delay_seconds: 0,
        max_request_retries: 1, request_timeout_seconds: 5}}
web:
  - {{name: infolomba, type: infolomba, base_url: "{site_url}", load_more_pages: 2}}
  - {{name: blog, type: blogger, base_url: "{site_url}/blog", freshness_days: 30}}
{extra}
"""
    )
    return str(path)


@pytest.fixture
def site():
    events = make_events(25)
    with SyntheticSite(events=events, blogs={"blog": make_blog_posts(4, WINDOW.end)}) as running:
        yield running


def rows(postgres, sql="SELECT * FROM raw_items ORDER BY id"):
    with postgres.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_list_load_more_detail_and_blogger_feed_land_in_postgres(postgres, site, tmp_path):
    config = load_sources(write_sources(tmp_path, site.url))
    lines = []
    reports = {
        r.name: r for r in ingest_web(postgres, config, WINDOW, lines.append, allowing(site))
    }
    # list (10) + two load-more pages (10 + 5) = 25 events, each with its detail
    assert (reports["infolomba"].status, reports["infolomba"].new) == ("ok", 25)
    # 4 feed entries, the stale one dropped by the freshness filter
    assert (reports["blog"].status, reports["blog"].new) == ("ok", 3)
    stored = {r["external_id"]: r for r in rows(postgres) if r["source_name"] == "infolomba"}
    first = make_events(25)[0]
    row = stored[str(first.id)]
    assert row["title"] == first.title
    assert row["canonical_url"] == f"{site.url}/{first.slug}-{first.id}"
    assert row["caption"] == first.description  # from POST /load-details
    assert row["image_url"].endswith(f"/images/event/poster/{first.slug}-{first.id}.png")
    assert row["hints"]["registration_url"] == first.registration_url
    assert row["hints"]["organizer"] == first.organizer
    assert row["hints"]["tanggal"] == first.tanggal and row["hints"]["target"] == first.target
    assert row["window_start"] == WINDOW.start and row["needs_extraction"] is True
    # the load-more and detail requests were the site's AJAX POSTs
    assert site.requests.count("POST /load-event-2") == 2
    assert site.requests.count("POST /load-details") == 25
    blog_rows = [r for r in rows(postgres) if r["source_name"] == "blog"]
    assert all("utm_source" not in r["canonical_url"] for r in blog_rows)
    assert all(r["posted_at"] is not None and r["image_url"] for r in blog_rows)
    assert sum(1 for line in lines if line.startswith("[Web] ") and "DB insert" in line) == 28


def test_bad_pages_give_per_item_errors_and_the_rest_is_stored(postgres, tmp_path):
    events = make_events(12)
    events[1].detail = "missing"  # dead detail link (404)
    events[2].detail = "garbage"  # detail answers HTML instead of JSON
    events[3].detail = "flaky"  # one 503: retried (max_request_retries: 1) and then stored
    with SyntheticSite(
        events=events,
        blogs={"blog": make_blog_posts(3, WINDOW.end), "rusak": None},
        malformed_card=True,
    ) as site:
        config = load_sources(
            write_sources(
                tmp_path,
                site.url,
                f'  - {{name: rusak, type: blogger, base_url: "{site.url}/rusak"}}\n'
                '  - {name: mati, type: blogger, base_url: "http://127.0.0.1:9/mati"}',
            )
        )
        reports = {
            r.name: r
            for r in ingest_web(postgres, config, WINDOW, lambda _: None, allowing(site))
        }
    info = reports["infolomba"]
    assert info.status == "ok with errors"
    assert info.new == 12  # dead or broken details keep what the list card said
    assert any("card 11: no title or event id" in e for e in info.errors)
    assert any("HTTP 404" in e and events[1].slug in e for e in info.errors)
    assert any("not JSON" in e and events[2].slug in e for e in info.errors)
    dead = next(r for r in rows(postgres) if r["external_id"] == str(events[1].id))
    assert dead["title"] == events[1].title and dead["caption"] is None
    assert "HTTP 404" in dead["hints"]["detail_error"]
    flaky = next(r for r in rows(postgres) if r["external_id"] == str(events[3].id))
    assert flaky["caption"] == events[3].description and "detail_error" not in flaky["hints"]
    # the 503 is retried once; the 404 is final (a client error is not retried)
    assert site.requests.count("POST /load-details") == 12 + 1
    assert reports["rusak"].status == "ok with errors"
    assert "not a Blogger JSON feed" in reports["rusak"].errors[0]
    assert reports["mati"].status == "unreachable"
    assert reports["blog"].new == 2


def test_materializing_the_same_partitions_twice_changes_nothing(postgres, r2_store, tmp_path):
    events = make_events(8)
    events[4].poster = "html"  # a non-image poster: an error on that item, not a crash
    events[5].poster = "huge"  # over the size limit
    with SyntheticSite(events=events, blogs={"blog": make_blog_posts(3, WINDOW.end)}) as site:
        resources = {
            "postgres": postgres,
            "object_store": r2_store,
            "catalog_sources": CatalogSources(path=write_sources(tmp_path, site.url)),
            "outbound": OutboundFetch(allow_hosts=site.host_port),
        }

        def materialize(key):
            with dg.instance_for_test() as instance:
                result = dg.materialize(
                    [web_listings, poster_images],
                    partition_key=key,
                    instance=instance,
                    resources=resources,
                )
            assert result.success
            return result

        def counts():
            return (
                rows(postgres, "SELECT count(*) AS n FROM raw_items")[0]["n"],
                rows(postgres, "SELECT count(*) AS n FROM images")[0]["n"],
                len(r2_store.list("posters/")),
            )

        first = materialize("2026-11-03-00:00")
        after_first = counts()
        posters = first.asset_materializations_for_node("poster_images")[0].metadata
        assert posters["objects_uploaded"].value == 8 + 2 - 2
        assert posters["poster_errors"].value == 2
        materialize("2026-11-03-00:00")
        materialize("2026-11-03-06:00")
        assert counts() == after_first == (8 + 2, 8, 8)
        puts = [c for c in site.requests if "/images/event/poster/" in c]
        # each poster downloaded once: stored or rejected items are no longer pending
        assert len(puts) == len(set(puts)) == 8
    errors = {
        r["external_id"]: r["image_error"] for r in rows(postgres) if r["image_error"] is not None
    }
    assert "not an image (Content-Type text/html)" in errors[str(events[4].id)]
    assert "too large" in errors[str(events[5].id)]


def test_a_known_item_with_complete_ai_fields_is_skipped_and_an_incomplete_one_requeued(
    postgres, site, tmp_path
):
    config = load_sources(write_sources(tmp_path, site.url))
    ingest_web(postgres, config, WINDOW, lambda _: None, allowing(site))
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("UPDATE raw_items SET needs_extraction = false")
        cur.execute(
            """INSERT INTO competitions (raw_item_id, canonical_url, organizer, start_date,
                   end_date, categories, levels)
               SELECT id, canonical_url, 'Panitia', '2026-12-01', '2026-12-20',
                      '{Akademik & Sains}', CASE WHEN id % 2 = 0 THEN '{SMA}'::text[]
                                                ELSE '{}'::text[] END
               FROM raw_items"""
        )
    lines = []
    reports = ingest_web(postgres, config, WINDOW, lines.append, allowing(site))
    total = sum(r.found for r in reports)
    assert sum(r.new for r in reports) == 0
    complete = rows(postgres, "SELECT count(*) AS n FROM raw_items WHERE id % 2 = 0")[0]["n"]
    assert sum(r.complete for r in reports) == complete
    assert sum(r.requeued for r in reports) == total - complete
    flagged = rows(postgres, "SELECT id FROM raw_items WHERE needs_extraction")
    assert {r["id"] % 2 for r in flagged} == {1}
    assert any("already stored and complete, skipped" in line for line in lines)


def test_sources_file_errors_name_the_file_and_field(tmp_path):
    from lomba_pipeline.catalog.sources.config import SourcesConfigError

    bad = tmp_path / "sources.yaml"
    bad.write_text(
        "web:\n  - {name: x, type: blogger}\n  - {name: y, type: ftp, base_url: 'a'}\n"
        "instagram: {profiles: ['bad name!']}\n"
    )
    with pytest.raises(SourcesConfigError) as error:
        load_sources(bad)
    message = str(error.value)
    assert str(bad) in message
    assert "web.0.blogger.base_url: Field required" in message
    assert "web.1" in message and "'ftp'" in message
    assert "not Instagram usernames: ['bad name!']" in message
    bad.write_text("crawl: {desired_concurrency: 10, max_concurrency: 2}\n")
    with pytest.raises(SourcesConfigError, match="max_concurrency \\(2\\) is below"):
        load_sources(bad)
    with pytest.raises(SourcesConfigError, match="does not exist"):
        load_sources(tmp_path / "missing.yaml")


def test_canonical_urls_drop_tracking_and_collapse_instagram_forms():
    from lomba_pipeline.catalog.sources.items import canonical_url

    assert (
        canonical_url("HTTPS://Infolomba.ID:443/info-x-1?utm_source=ig&b=2&a=1&fbclid=z#top")
        == "https://infolomba.id/info-x-1?a=1&b=2"
    )
    for url in (
        "https://www.instagram.com/p/DSlsNe5E5iO/?igsh=abc",
        "instagram.com/reel/DSlsNe5E5iO",
        "https://instagram.com/infolomba/p/DSlsNe5E5iO/",
    ):
        assert canonical_url(url) == "https://www.instagram.com/p/DSlsNe5E5iO/"


def test_freshness_filter_uses_the_window_end():
    from lomba_pipeline.catalog.sources.parsers import blogger_entries

    now = datetime(2026, 11, 3, tzinfo=UTC)
    import json

    body = json.dumps(
        {
            "feed": {
                "entry": [
                    {
                        "title": {"$t": "baru"},
                        "published": {"$t": "2026-11-01T10:00:00+07:00"},
                        "link": [{"rel": "alternate", "href": "https://b.example/1"}],
                    },
                    {"title": {"$t": "rusak"}},
                ]
            }
        }
    )
    listings, errors = blogger_entries(body, "feed", now.replace(month=10))
    assert [x["title"] for x in listings] == ["baru"]
    assert errors == ["feed entry 2: unreadable (StopIteration)"]
    assert blogger_entries(body, "feed", now)[0] == []


def test_requests_to_one_host_are_spaced_by_the_politeness_delay():
    import time

    from lomba_pipeline.catalog.sources.config import CrawlSettings, InfolombaSource
    from lomba_pipeline.catalog.sources.web_crawl import crawl_web

    with SyntheticSite(events=make_events(4)) as site:
        source = InfolombaSource(
            name="infolomba", type="infolomba", base_url=site.url, load_more_pages=0
        )
        timings = {}
        for delay in (0.0, 0.0, 0.3):  # the first run warms crawlee up
            crawl = CrawlSettings(per_host_delay_seconds=delay, max_request_retries=0)
            start = time.perf_counter()
            outcome = crawl_web([source], crawl, WINDOW.end, allowing(site))["infolomba"]
            timings[delay] = time.perf_counter() - start
            assert len(outcome.items) == 4
    # 1 list page + 4 details on one host: at least 4 gaps of 0.3 s
    assert timings[0.3] >= 4 * 0.3
    assert timings[0.0] < timings[0.3] - 0.8


def test_without_the_allow_list_entry_the_local_site_is_refused_and_never_asked(
    postgres, site, tmp_path
):
    """The tests above pass only because they allow their site: the policy is never off."""
    config = load_sources(write_sources(tmp_path, site.url))
    reports = ingest_web(postgres, config, WINDOW, lambda _: None)  # the strict default
    assert [r.status for r in reports] == ["unreachable", "unreachable"]
    assert all("a loopback address" in r.errors[0] for r in reports)
    assert site.requests == []
    assert rows(postgres, "SELECT count(*) AS n FROM raw_items")[0]["n"] == 0
