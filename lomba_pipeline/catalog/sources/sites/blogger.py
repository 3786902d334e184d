"""Blogger sites, read through ``/feeds/posts/default?alt=json``: one feed request per source.

A feed is asked conditionally with the validators of its last full answer (given only while
every item of the source is stored complete); a "304 Not Modified" means nothing new to read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlencode

from pydantic import Field, HttpUrl

from lomba_pipeline.catalog.sources import parsers
from lomba_pipeline.catalog.sources.crawl_pass import (
    BASE_HEADERS,
    ENTRY,
    CrawlPass,
    base_url,
    item_of,
)
from lomba_pipeline.catalog.sources.sites.base import SiteType
from lomba_pipeline.catalog.sources.source_model import WebSourceBase

FEED = "blogger:feed"


class BloggerSource(WebSourceBase):
    """A Blogger site read through ``/feeds/posts/default?alt=json``."""

    type: Literal["blogger"]
    base_url: HttpUrl
    query: str | None = None
    max_results: int = Field(25, ge=1, le=150)
    # the feed ignores published-min together with q, so freshness is filtered here
    freshness_days: int = Field(30, ge=1, le=365)


def start_requests(crawl: CrawlPass, source: BloggerSource) -> list:
    from crawlee import Request

    params = {"alt": "json", "max-results": source.max_results}
    if source.query:
        params["q"] = source.query
    feed = f"{base_url(source)}/feeds/posts/default?{urlencode(params)}"
    return [
        Request.from_url(
            feed,
            headers={**BASE_HEADERS, **crawl.conditional_headers(feed)},
            label=FEED,
            user_data=crawl.user_data(source, ENTRY, feed=feed),
        )
    ]


async def on_feed(crawl: CrawlPass, ctx) -> None:
    source, result = crawl.source(ctx), crawl.outcome(ctx)
    result.pages += 1
    if ctx.http_response.status_code == 304:
        result.not_modified += 1  # unchanged since the last full answer: all of it stored
        return
    crawl.remember(ctx, ctx.request.user_data["feed"])
    since = crawl.now - timedelta(days=source.freshness_days)
    try:
        listings, errors = parsers.blogger_entries(await crawl.body(ctx), ctx.request.url, since)
    except ValueError as exc:
        result.errors.append(str(exc))
        return
    result.errors.extend(errors)
    result.items.extend(item_of(source, listing) for listing in listings)


SITE = SiteType(
    name="blogger",
    source_model=BloggerSource,
    start_requests=start_requests,
    handlers={FEED: on_feed},
)
