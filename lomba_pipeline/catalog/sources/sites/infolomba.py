"""infolomba.id: an SSR list page, ``POST /load-event-2`` pages of 10, ``POST /load-details``.

Load-more pages are followed one after another until a page adds no card this pass has not
seen, the optional page cap, or the source's time budget (``load_more_seconds``). The list page
is a GET and may be asked conditionally (``CrawlPass.read_list_page``); load-more pages are POSTs,
which HTTP never answers "304 Not Modified" (RFC 9110 §13.1.2), so they are always read. A
re-run asks no further load-more page once the listing is known (``stop_after_known_pages``,
see ``crawl_pass``).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from pydantic import Field, HttpUrl

from lomba_pipeline.catalog.sources import parsers
from lomba_pipeline.catalog.sources.crawl_pass import (
    BASE_HEADERS,
    ENTRY,
    PAGE,
    CrawlPass,
    ListPage,
    base_url,
)
from lomba_pipeline.catalog.sources.sites.base import SiteType
from lomba_pipeline.catalog.sources.source_model import PagedListing, WebSourceBase

AJAX_HEADERS = {
    "X-Requested-With": "XMLHttpRequest",
    "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
}
LIST, MORE, DETAIL = "infolomba:list", "infolomba:more", "infolomba:detail"


class InfolombaSource(PagedListing, WebSourceBase):
    """infolomba.id: SSR list, ``POST /load-event-2`` pages, ``POST /load-details`` detail."""

    type: Literal["infolomba"]
    base_url: HttpUrl
    list_path: str = (
        "/events?sort=Default&title=&peserta=5&lokasi=Semua+Lokasi&kategori=Semua+Kategori"
    )
    # extra pages of 10 after the first; none = follow the site until a page adds no new card
    load_more_pages: int | None = Field(None, ge=0, le=100_000)
    # time budget for following load-more pages (the pass timeout still bounds the whole pass).
    # Generous: at 0.5 s per request the pages share the host with the details they queue, so
    # 100 pages (1,000 cards) take ~340 s of a first pass (bench/scrape.py)
    load_more_seconds: float = Field(540, gt=0, le=3600)
    include_past: bool = False


def start_requests(crawl: CrawlPass, source: InfolombaSource) -> list:
    from crawlee import Request

    url = base_url(source) + source.list_path
    return [
        Request.from_url(
            url,
            headers={**BASE_HEADERS, **crawl.conditional_headers(url, list_page_of=source)},
            label=LIST,
            user_data=crawl.user_data(source, ENTRY),
        )
    ]


def _detail_request(crawl: CrawlPass, source: InfolombaSource, listing: dict):
    from crawlee import Request

    return Request.from_url(
        base_url(source) + "/load-details",
        method="POST",
        headers={**BASE_HEADERS, **AJAX_HEADERS},
        payload=urlencode({"event_id": listing["external_id"]}).encode(),
        label=DETAIL,
        unique_key=f"{source.name}:detail:{listing['external_id']}",
        user_data=crawl.detail_data(source, listing),
    )


async def _take(crawl: CrawlPass, ctx, page: ListPage, where: str) -> int:
    """Queue the details of a page's cards; returns how many cards this pass had not seen."""
    source = crawl.source(ctx)
    crawl.outcome(ctx).errors.extend(f"{where}: {e}" for e in page.errors)
    requests, new = crawl.take_cards(
        ctx, page.listings, lambda listing: _detail_request(crawl, source, listing), "external_id"
    )
    await ctx.add_requests(requests)
    return new


async def _follow_load_more(crawl: CrawlPass, ctx, number: int, known_run: int) -> None:
    """Ask for load-more page ``number`` next (ahead of queued details, so the listing is found
    first), unless the page cap, a known listing (``known_run`` known pages so far) or the
    source's time budget says stop."""
    from crawlee import Request

    source = crawl.source(ctx)
    if source.load_more_pages is not None and number > source.load_more_pages:
        return
    where = "the list page" if number == 1 else f"load-more page {number - 1}"
    if crawl.listing_known(ctx, known_run, where, lambda: 1):
        return
    if crawl.elapsed() > source.load_more_seconds:
        crawl.stop_early(
            source.name,
            f"load-more stopped at page {number}: time budget of "
            f"{source.load_more_seconds:.0f} s used",
        )
        return
    form = {
        "start": 10 * number,
        "sort": "Default",
        "title": "",
        "peserta": 5,
        "lokasi": "Semua Lokasi",
        "kategori": "Semua Kategori",
    }
    for request in crawl.request_or_skip(
        ctx,
        lambda: Request.from_url(
            base_url(source) + "/load-event-2",
            method="POST",
            headers={**BASE_HEADERS, **AJAX_HEADERS},
            payload=urlencode(form).encode(),
            label=MORE,
            unique_key=f"{source.name}:more:{number}",
            user_data=crawl.user_data(source, PAGE, page=number, known_run=known_run),
        ),
        f"load-more page {number}",
    ):
        await crawl.queue.add_request(request, forefront=True)


async def on_list(crawl: CrawlPass, ctx) -> None:
    source = crawl.source(ctx)
    crawl.outcome(ctx).pages += 1
    page = await crawl.read_list_page(
        ctx, lambda html: ListPage(*parsers.infolomba_cards(html, base_url(source),
                                                            source.include_past))
    )
    run = 0
    if page is not None:
        await _take(crawl, ctx, page, "list")
        run = crawl.known_run(ctx, page.listings)
    await _follow_load_more(crawl, ctx, 1, run)


async def on_more(crawl: CrawlPass, ctx) -> None:
    source = crawl.source(ctx)
    number = ctx.request.user_data["page"]
    where = f"load-more page {number}"
    crawl.outcome(ctx).pages += 1
    try:
        html = parsers.json_html(await crawl.body(ctx), where)
    except ValueError as exc:
        crawl.outcome(ctx).errors.append(str(exc))
        return
    cards = ListPage(*parsers.infolomba_cards(html, base_url(source), source.include_past))
    # the site's own end: a page that adds no card this pass has not seen
    if await _take(crawl, ctx, cards, where):
        await _follow_load_more(crawl, ctx, number + 1, crawl.known_run(ctx, cards.listings))


async def on_detail(crawl: CrawlPass, ctx) -> None:
    source = crawl.source(ctx)
    listing = ctx.request.user_data["listing"]
    crawl.outcome(ctx).pages += 1
    try:
        html = parsers.json_html(await crawl.body(ctx), f"detail of {listing['url']}")
        detail = parsers.infolomba_detail(html, base_url(source))
    except ValueError as exc:
        crawl.keep_listing(ctx, str(exc))
        return
    crawl.add_detail(
        ctx,
        caption=detail["description"],
        image_url=listing.get("image_url") or detail["image_url"],
        hints=detail["hints"],
        problems=[f"detail of {listing['url']}: {p}" for p in detail["problems"]],
    )


SITE = SiteType(
    name="infolomba",
    source_model=InfolombaSource,
    start_requests=start_requests,
    handlers={LIST: on_list, MORE: on_more, DETAIL: on_detail},
)
