"""Bounded work per scraped item: one bad card link skips that card only, stored text is capped
(the full caption stays in the payload). SYNTHETIC pages on 127.0.0.1, allowed explicitly."""

from __future__ import annotations

import html

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from lomba_pipeline.catalog.ingestion.service import ingest_web, window_for_key
from lomba_pipeline.catalog.sources.config import load_sources
from lomba_pipeline.catalog.sources.items import MAX_CAPTION_CHARS, ScrapedItem
from lomba_pipeline.db import raw_items
from lomba_pipeline.local_server import LocalServer
from lomba_pipeline.resources.outbound import OutboundPolicy

WINDOW = window_for_key("2026-11-03-06:00")


def catalog_app(links: list[str], detail_text: str = "") -> Starlette:
    async def katalog(request):
        cards = "".join(
            f'<article class="c"><h2><a href="{html.escape(link)}">Lomba Sintetis {n}</a></h2>'
            f'<img src="/p/{n}.png"></article>'
            for n, link in enumerate(links, 1)
        )
        return HTMLResponse(f"<html><body>{cards}</body></html>")

    async def detail(request):
        return HTMLResponse(f"<html><body><div class='isi'>{detail_text}</div></body></html>")

    return Starlette(routes=[Route("/katalog", katalog), Route("/lomba/{n}", detail)])


def sources_file(tmp_path, url: str, detail: bool) -> str:
    path = tmp_path / "sources.yaml"
    path.write_text(f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 0, request_timeout_seconds: 5}}
web:
  - name: katalog
    type: generic
    list_urls: ["{url}/katalog"]
    item: article.c
    title: "h2 a::text"
    link: "h2 a::attr(href)"
    image: "img::attr(src)"
{'    detail: {description: ".isi ::text"}' if detail else ''}
""")
    return str(path)


def stored(postgres) -> list[dict]:
    with postgres.cursor() as cur:
        cur.execute("SELECT * FROM raw_items ORDER BY id")
        return cur.fetchall()


def test_one_javascript_link_among_ten_cards_skips_that_card_only(postgres, tmp_path):
    links = [f"/lomba/{n}" for n in range(1, 11)]
    links[4] = "javascript:void(0)"
    with LocalServer(catalog_app(links, "[SINTETIS] deskripsi")) as server:
        policy = OutboundPolicy.from_setting(server.url.split("://")[1])
        for detail in (False, True):  # card links stored as-is, and card links followed
            with postgres.cursor() as cur:
                cur.execute("TRUNCATE raw_items CASCADE")
            lines: list[str] = []
            config = load_sources(sources_file(tmp_path, server.url, detail))
            [report] = ingest_web(postgres, config, WINDOW, lines.append, policy)
            assert (report.status, report.new) == ("ok with errors", 9)
            assert len(report.errors) == 1
            assert "card 5: skipped, bad link ('javascript:void(0)': not an http(s) link)" in (
                report.errors[0]
            )
            assert any("error:" in line and "card 5: skipped" in line for line in lines)
            titles = [r["title"] for r in stored(postgres)]
            assert len(titles) == 9 and "Lomba Sintetis 5" not in titles


def test_malformed_links_skip_their_cards_and_bad_poster_links_are_dropped(postgres, tmp_path):
    links = [f"/lomba/{n}" for n in range(1, 6)]
    links[1] = "http://[contoh/lomba"  # unbalanced bracket: urlsplit cannot read it
    links[2] = "http://contoh.example:99999/lomba"  # port out of range
    with LocalServer(catalog_app(links)) as server:
        policy = OutboundPolicy.from_setting(server.url.split("://")[1])
        config = load_sources(sources_file(tmp_path, server.url, detail=False))
        [report] = ingest_web(postgres, config, WINDOW, lambda _: None, policy)
    assert report.new == 3
    assert sum("skipped, bad link" in e for e in report.errors) == 2


def test_a_huge_caption_is_cut_when_stored_and_kept_whole_in_the_payload(postgres):
    caption = "[SINTETIS] Lomba Esai Nasional. " * 20_000  # ~640 KB of scraped text
    title = "Judul " * 500
    item = ScrapedItem("web", "katalog", "https://contoh.example/lomba-1", title=title,
                       caption=caption, hints={"tanggal": "x" * 50_000})
    with postgres.connection() as conn:
        [result] = raw_items.store_items(conn, [item], WINDOW.start)
    [row] = stored(postgres)
    assert len(row["caption"]) == MAX_CAPTION_CHARS and caption.startswith(row["caption"])
    assert row["payload"]["caption_full"] == caption
    assert row["payload"]["caption_chars"] == len(caption)
    assert len(row["title"]) == 500 and row["payload"]["title_full"] == title
    assert len(row["hints"]["tanggal"]) == 2_000
    assert result.item.caption == row["caption"]  # later steps see what was stored
