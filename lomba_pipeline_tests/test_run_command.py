"""``lomba run`` and ``lomba demo`` as a person runs them (real subprocesses, local sites only)."""

import os
import re

import pytest

from lomba_pipeline.demo.content import make_blog_posts, make_events
from lomba_pipeline.demo.site import SyntheticSite, now_utc
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.processes import lomba


def summary_row(stdout: str, source: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith(source + " "))
    return re.split(r"\s{2,}", line.strip())


@pytest.mark.timeout(120)
def test_run_reports_an_unreachable_source_and_completes_the_others(postgres, tmp_path):
    sources = tmp_path / "sources.yaml"
    with SyntheticSite(
        events=make_events(6), blogs={"blog": make_blog_posts(2, now_utc())}
    ) as site:
        sources.write_text(
            f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 1, request_timeout_seconds: 5}}
web:
  - {{name: mati, type: infolomba, base_url: "http://127.0.0.1:9"}}
  - {{name: infolomba, type: infolomba, base_url: "{site.url}", load_more_pages: 1}}
  - {{name: blog, type: blogger, base_url: "{site.url}/blog"}}
instagram:
  profiles: [infolomba.indonesia.id]
"""
        )
        # the local site is on loopback: allowed explicitly, as a deployment would; an object
        # store of its own (LOMBA_HOME), so posters other tests stored do not count as reused
        out = lomba("run", "--sources", str(sources),
                    env={**os.environ, "LOMBA_FETCH_ALLOW_HOSTS": site.host_port,
                         "LOMBA_HOME": str(tmp_path / "home")})
    assert out.returncode == 0, out.stderr
    assert summary_row(out.stdout, "Web mati")[1] == "unreachable"
    assert summary_row(out.stdout, "Web infolomba")[1:4] == ["ok", "6", "6"]
    assert summary_row(out.stdout, "Web blog")[1:4] == ["ok", "1", "1"]
    assert summary_row(out.stdout, "IG infolomba.indonesia.id")[1] == "skipped"
    assert "[IG] skipped: Instagram is not configured: set LOMBA_IG_SCRAPER_USERNAME" in out.stdout
    assert "posters: 7 stored (7 uploaded, 0 already in store), 0 rejected" in out.stdout
    assert len(re.findall(r"^\[Web\] infolomba: .* → DB insert raw_items#", out.stdout, re.M)) == 6
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n, count(image_id) AS posters FROM raw_items")
        assert dict(cur.fetchone()) == {"n": 7, "posters": 7}
    # the same pass extracted every item into a catalog record (offline: the rules provider)
    assert re.search(r"^extraction \(rules\): 7 records", out.stdout, re.M), out.stdout[-1500:]
    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) AS n, count(title) AS titled FROM competitions")
        assert dict(cur.fetchone()) == {"n": 7, "titled": 7}


def test_run_with_a_bad_allow_list_says_which_entry(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text("web: []\n")
    out = lomba("run", "--sources", str(sources),
                env={**os.environ, "LOMBA_FETCH_ALLOW_HOSTS": "mirror=not-an-ip:80"})
    assert out.returncode == 1
    assert "LOMBA_FETCH_ALLOW_HOSTS: entry 'mirror=not-an-ip:80'" in out.stderr


def test_run_with_an_invalid_sources_file_says_what_is_wrong(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text("web:\n  - {name: x, type: infolomba, base_url: not-a-url}\n")
    out = lomba("run", "--sources", str(sources))
    assert out.returncode == 1
    assert f"{sources}: web.0.infolomba.base_url" in out.stderr


@pytest.mark.timeout(180)
def test_demo_runs_the_whole_pass_offline_and_a_second_demo_adds_nothing(postgres):
    port = str(free_port())
    first = lomba("demo", "--port", port)
    assert first.returncode == 0, first.stderr + first.stdout[-2000:]
    assert f"SYNTHETIC sites and fake Instagram on http://127.0.0.1:{port}" in first.stdout
    assert summary_row(first.stdout, "Web infolomba-sintetis")[1] == "ok"
    assert summary_row(first.stdout, "Web situs-mati-sintetis")[1] == "unreachable"
    for profile in ("demo.lomba.sintetis", "demo_kompetisi"):
        row = summary_row(first.stdout, f"IG {profile}")
        assert row[1:4] == ["ok", "3", "3"]  # the older post is outside the window
    assert re.search(r"^\[IG\] demo_kompetisi: .* → DB insert raw_items#", first.stdout, re.M)
    assert re.search(r"^\[IG\] demo_kompetisi: raw_items#\d+ poster uploaded ", first.stdout, re.M)
    assert "1 rejected" in first.stdout  # the synthetic poster that is an HTML page

    with postgres.cursor() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE extraction_status <> 'done') AS incomplete,"
                    " count(*) AS n FROM competitions")
        counts = cur.fetchone()
    assert re.search(rf"^extraction \(rules\): {counts['n']} records", first.stdout, re.M)

    def stored():
        with postgres.cursor() as cur:
            cur.execute("SELECT count(*) AS items, count(image_id) AS posters,"
                        " count(*) FILTER (WHERE canonical_url LIKE '%127.0.0.1%') AS local"
                        " FROM raw_items")
            return dict(cur.fetchone())

    after_first = stored()
    assert after_first["local"] == 0  # stored URLs name the demo hosts, never the port

    # another port (as when the first one is taken): the same records, nothing new
    second = lomba("demo", "--port", str(free_port()))
    assert second.returncode == 0, second.stderr
    assert "posters: 0 stored" in second.stdout
    # seen again: only incomplete records go back to extraction, complete ones never do
    assert re.search(rf"^extraction \(rules\): {counts['incomplete']} records", second.stdout,
                     re.M), second.stdout[-1500:]
    assert summary_row(second.stdout, "IG demo_kompetisi")[3] == "0"  # nothing new
    for source in ("infolomba-sintetis", "blogger-sintetis", "katalog-generik-sintetis"):
        assert summary_row(second.stdout, f"Web {source}")[3] == "0"
    assert stored() == after_first


@pytest.mark.timeout(180)
def test_a_failed_step_is_named_and_the_run_exits_1(postgres, tmp_path):
    """The object store is down: the scrape is stored, the poster step fails, the CLI says which
    step failed and exits 1 (an unreachable *source* is a normal day; a failed step is not)."""
    sources = tmp_path / "sources.yaml"
    with SyntheticSite(events=make_events(2)) as site:
        sources.write_text(
            "crawl: {per_host_delay_seconds: 0, max_request_retries: 1}\n"
            f'web:\n  - {{name: infolomba, type: infolomba, base_url: "{site.url}",'
            " load_more_pages: 1}\n"
        )
        store_down = {
            "LOMBA_R2_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens
            "LOMBA_R2_ACCESS_KEY_ID": "testing", "LOMBA_R2_SECRET_ACCESS_KEY": "testing",
            "LOMBA_R2_BUCKET": "posters", "LOMBA_R2_PUBLIC_BASE_URL": "https://media.example.test",
        }
        out = lomba("run", "--sources", str(sources), timeout=170,
                    env={**os.environ, **store_down, "LOMBA_FETCH_ALLOW_HOSTS": site.host_port,
                         "LOMBA_HOME": str(tmp_path / "home")})
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert re.search(r"^FAILED poster_images: ", out.stdout, re.M), out.stdout[-2000:]
    assert summary_row(out.stdout, "Web infolomba")[1:4] == ["ok", "2", "2"]
    with postgres.cursor() as cur:  # the scrape is kept, no poster was marked bad by the outage
        cur.execute("SELECT count(*) AS n, count(image_error) AS errors FROM raw_items")
        assert dict(cur.fetchone()) == {"n": 2, "errors": 0}
