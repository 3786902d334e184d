"""Any server-rendered catalog: list and detail CSS selectors from config, no code.

List pages are GETs followed through the configured "next" link up to ``max_pages``; each may be
asked conditionally (``CrawlPass.read_list_page``), so a 304 stands in with the cards and the
next link the page held last time. A re-run stops following "next" once the listing is known
(``stop_after_known_pages``, see ``crawl_pass``).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urljoin

from parsel import Selector
from pydantic import Field, HttpUrl

from lomba_pipeline.catalog.sources import parsers
from lomba_pipeline.catalog.sources.crawl_pass import BASE_HEADERS, ENTRY, PAGE, CrawlPass, ListPage
from lomba_pipeline.catalog.sources.items import BadLink, checked_link
from lomba_pipeline.catalog.sources.sites.base import SiteType
from lomba_pipeline.catalog.sources.source_model import (
    PagedListing,
    StrictModel,
    WebSourceBase,
)

LIST, DETAIL = "generic:list", "generic:detail"


class GenericDetailSelectors(StrictModel):
    description: str | None = None
    image: str | None = None
    fields: dict[str, str] = {}


class GenericSource(PagedListing, WebSourceBase):
    """Any server-rendered catalog: list/detail CSS selectors from config, no code."""

    type: Literal["generic"]
    list_urls: list[HttpUrl] = Field(min_length=1)
    item: str  # one match per listing card
    title: str
    link: str  # attribute selector, e.g. "a.title::attr(href)"
    image: str | None = None
    description: str | None = None
    fields: dict[str, str] = {}  # hint name -> selector inside the card
    next_page: str | None = None  # attribute selector of the "next" link
    max_pages: int = Field(3, ge=1, le=100)
    detail: GenericDetailSelectors | None = None


def _list_request(
    crawl: CrawlPass, source: GenericSource, url: str, depth: int, known_run: int = 0
):
    from crawlee import Request

    return Request.from_url(
        url,
        headers={**BASE_HEADERS, **crawl.conditional_headers(url, list_page_of=source)},
        label=LIST,
        user_data=crawl.user_data(
            source, ENTRY if depth == 1 else PAGE, page=depth, known_run=known_run
        ),
    )


def start_requests(crawl: CrawlPass, source: GenericSource) -> list:
    return [_list_request(crawl, source, str(url), 1) for url in source.list_urls]


def _detail_request(crawl: CrawlPass, source: GenericSource, listing: dict):
    from crawlee import Request

    return Request.from_url(
        listing["url"],
        headers=BASE_HEADERS,
        label=DETAIL,
        user_data=crawl.detail_data(source, listing),
    )


def _parse(source: GenericSource, page_url: str, html: str) -> ListPage:
    """The page's cards and its raw "next" href (checked only when it is to be followed)."""
    listings, errors = parsers.generic_cards(html, page_url, source)
    href = Selector(text=html).css(source.next_page).get() if source.next_page else None
    return ListPage(listings, errors, href)


async def on_list(crawl: CrawlPass, ctx) -> None:
    source, result = crawl.source(ctx), crawl.outcome(ctx)
    result.pages += 1
    page = await crawl.read_list_page(ctx, lambda html: _parse(source, ctx.request.url, html))
    if page is None:
        return
    result.errors.extend(page.errors)
    detail = None if source.detail is None else (
        lambda listing: _detail_request(crawl, source, listing)
    )
    details, _ = crawl.take_cards(ctx, page.listings, detail, seen_key=None)
    await ctx.add_requests(details)
    depth = ctx.request.user_data.get("page", 1)
    if not page.next_link or depth >= source.max_pages:
        return
    run = crawl.known_run(ctx, page.listings)
    if crawl.listing_known(
        ctx,
        run,
        f"list page {depth} ({ctx.request.url})",
        lambda: crawl.remembered_pages_after(
            ctx.request.url, page.next_link, source.max_pages - depth
        ),
    ):
        return
    try:
        next_url = checked_link(urljoin(ctx.request.url, page.next_link.strip()))
    except (BadLink, ValueError) as exc:
        result.errors.append(f"{ctx.request.url}: next page not followed ({exc})")
        return
    await ctx.add_requests(
        crawl.request_or_skip(
            ctx, lambda: _list_request(crawl, source, next_url, depth + 1, run), next_url
        )
    )


async def on_detail(crawl: CrawlPass, ctx) -> None:
    source = crawl.source(ctx)
    listing = ctx.request.user_data["listing"]
    crawl.outcome(ctx).pages += 1
    html = (await crawl.body(ctx)).decode(errors="replace")
    detail = parsers.generic_detail(html, ctx.request.url, source.detail)
    crawl.add_detail(
        ctx,
        caption=detail["description"] or listing.get("caption"),
        image_url=detail["image_url"] or listing.get("image_url"),
        hints=detail["hints"],
        problems=detail["problems"],
    )


SITE = SiteType(
    name="generic",
    source_model=GenericSource,
    start_requests=start_requests,
    handlers={LIST: on_list, DETAIL: on_detail},
)
