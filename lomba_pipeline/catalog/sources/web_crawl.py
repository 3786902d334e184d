"""Crawl the configured web catalogs with crawlee's ``ParselCrawler`` in one pass.

One crawler serves every web source (shared concurrency budget, in-memory storage, retries),
routes each request by label to the site's parser, and collects per-source outcomes: items,
per-item errors, and whether the source answered at all. A failing card, detail page or feed
becomes an error on that source; it never stops the crawl.

Re-runs skip what is known: a card whose canonical URL and card hash appear in ``known_details``
(complete records, see ``raw_items.skippable_details``) yields its card-only item without its
detail page being fetched. infolomba's load-more pages are followed one after another until a
page adds no new card, the optional page cap, or the source's time budget. A Blogger feed is
asked conditionally with the validators it gave last time (``validators``); a 304 answer means
the feed is unchanged and yields nothing, and a full answer's validators come back in
``SourceOutcome.validators`` to be saved once its items are stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from lomba_pipeline.catalog.sources import parsers
from lomba_pipeline.catalog.sources.config import (
    BloggerSource,
    CrawlSettings,
    GenericSource,
    InfolombaSource,
)
from lomba_pipeline.catalog.sources.items import (
    BadLink,
    ScrapedItem,
    canonical_url,
    card_hash,
    checked_link,
)
from lomba_pipeline.resources.outbound import OutboundError, OutboundPolicy

AJAX_HEADERS = {
    "X-Requested-With": "XMLHttpRequest",
    "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
}
# no "br": Brotli answers need an extra decoder (domain notes, infolomba.id)
BASE_HEADERS = {"Accept-Encoding": "gzip, deflate", "Accept-Language": "id,en;q=0.8"}


@dataclass
class SourceOutcome:
    name: str
    kind: str = "web"
    items: list[ScrapedItem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pages: int = 0
    details_skipped: int = 0  # known complete items whose unchanged card spared the detail page
    not_modified: int = 0  # conditional requests answered "304 Not Modified"
    validators: dict[str, dict[str, str]] = field(default_factory=dict)  # feed URL -> validators
    unreachable: str | None = None  # why the source's entry page could not be read
    skipped: str | None = None  # why the source was not attempted

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        if self.unreachable:
            return "unreachable"
        return "ok" if not self.errors else "ok with errors"


class _HostPacer:
    """Per-host politeness: at least ``delay`` seconds between two requests to one host."""

    def __init__(self, delay: float):
        self.delay = delay
        self._next: dict[str, float] = {}

    async def wait(self, url: str) -> None:
        if self.delay <= 0:
            return
        host = urlsplit(url).netloc
        now = time.monotonic()
        start = max(now, self._next.get(host, now))
        self._next[host] = start + self.delay
        if start > now:
            await asyncio.sleep(start - now)


def crawl_web(
    sources: list,
    crawl: CrawlSettings,
    now: datetime,
    outbound: OutboundPolicy | None = None,
    known_details: dict[str, str] | None = None,
    validators: dict[str, dict[str, str]] | None = None,
) -> dict[str, SourceOutcome]:
    """Blocking entry point (runs its own event loop, in a thread if one is already running).
    Every request goes through ``outbound`` (default: the strict policy, no internal hosts).
    ``known_details``: canonical URL -> card hash of items whose detail need not be re-read;
    ``validators``: feed URL -> the ETag / Last-Modified it answered with last time."""
    args = (sources, crawl, now, outbound, known_details, validators)
    try:
        asyncio.get_running_loop()
        in_loop = True
    except RuntimeError:
        in_loop = False
    if not in_loop:
        return asyncio.run(crawl_web_async(*args))
    result: dict = {}

    def target():
        result["value"] = asyncio.run(crawl_web_async(*args))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return result["value"]


async def crawl_web_async(
    sources: list,
    crawl: CrawlSettings,
    now: datetime,
    outbound: OutboundPolicy | None = None,
    known_details: dict[str, str] | None = None,
    validators: dict[str, dict[str, str]] | None = None,
) -> dict[str, SourceOutcome]:
    from crawlee import ConcurrencySettings, Request
    from crawlee.crawlers import ParselCrawler, ParselCrawlingContext
    from crawlee.storage_clients import MemoryStorageClient
    from crawlee.storages import RequestQueue

    # imported here: crawlee costs ~1 s to import, and the code location loads this module
    from lomba_pipeline.catalog.sources.crawl_client import OutboundHttpClient

    outcomes = {s.name: SourceOutcome(s.name) for s in sources}
    by_name = {s.name: s for s in sources}
    known = known_details or {}
    seen_cards: dict[str, set[str]] = {s.name: set() for s in sources}  # per pass, per source
    started = time.monotonic()
    if not sources:
        return outcomes

    storage = MemoryStorageClient()
    # a queue of its own: crawlee caches the default queue per process, and a second pass in
    # the same process would otherwise treat every request as already handled
    queue = await RequestQueue.open(alias=f"lomba-{uuid.uuid4().hex}", storage_client=storage)
    policy = outbound or OutboundPolicy()
    # one page may take at most the crawl's request timeout, never more than the policy allows
    policy = replace(
        policy, deadline_seconds=min(policy.deadline_seconds, crawl.request_timeout_seconds)
    )
    crawler = ParselCrawler(
        storage_client=storage,
        request_manager=queue,
        http_client=OutboundHttpClient(policy, max_connections=crawl.max_concurrency),
        concurrency_settings=ConcurrencySettings(
            desired_concurrency=crawl.desired_concurrency, max_concurrency=crawl.max_concurrency
        ),
        max_request_retries=crawl.max_request_retries,
        request_handler_timeout=timedelta(seconds=crawl.request_timeout_seconds * 2),
        configure_logging=False,
        use_session_pool=False,
        retry_on_blocked=False,
        status_message_logging_interval=timedelta(hours=1),
        _logger=_quiet_logger(),
    )
    pacer = _HostPacer(crawl.per_host_delay_seconds)

    @crawler.pre_navigation_hook
    async def polite(ctx) -> None:
        await pacer.wait(ctx.request.url)

    def outcome(ctx) -> SourceOutcome:
        return outcomes[ctx.request.user_data["source"]]

    async def body(ctx) -> bytes:
        return await ctx.http_response.read()

    def request_or_skip(ctx, make_request, listing: dict) -> list:
        """One card's request (in a list), or none: a card crawlee cannot request is skipped
        with its reason, and the rest of the page goes on."""
        try:
            return [make_request()]
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            reason = str(exc).strip().splitlines()[0][:150]
            outcome(ctx).errors.append(f"{listing.get('url')!r}: skipped ({reason})")
            return []

    def detail_known(ctx, source, listing: dict) -> bool:
        """A known complete item with an unchanged card: keep the card, skip the detail."""
        try:
            key = canonical_url(listing["url"])
        except ValueError:
            return False
        if known.get(key) != card_hash(listing):
            return False
        result = outcome(ctx)
        result.details_skipped += 1
        result.items.append(_item(source, listing))
        return True

    # -- infolomba.id --------------------------------------------------------------------------
    def infolomba_detail_request(source: InfolombaSource, listing: dict):
        return Request.from_url(
            _base(source) + "/load-details",
            method="POST",
            headers={**BASE_HEADERS, **AJAX_HEADERS},
            payload=urlencode({"event_id": listing["external_id"]}).encode(),
            label="INFOLOMBA_DETAIL",
            unique_key=f"{source.name}:detail:{listing['external_id']}",
            user_data={"source": source.name, "listing": listing, "card_hash": card_hash(listing)},
        )

    async def enqueue_infolomba_cards(ctx, html: str, page: str) -> int:
        """Queue the details of a page's cards; returns how many cards this pass had not seen."""
        source = by_name[ctx.request.user_data["source"]]
        listings, errors = parsers.infolomba_cards(html, _base(source), source.include_past)
        outcome(ctx).errors.extend(f"{page}: {e}" for e in errors)
        seen = seen_cards[source.name]
        requests, new = [], 0
        for listing in listings:
            if listing["external_id"] in seen:
                continue
            seen.add(listing["external_id"])
            new += 1
            if detail_known(ctx, source, listing):
                continue
            requests += request_or_skip(
                ctx, lambda listing=listing: infolomba_detail_request(source, listing), listing
            )
        await ctx.add_requests(requests)
        return new

    async def follow_load_more(ctx, source: InfolombaSource, page: int) -> None:
        """Ask for load-more page ``page`` next (ahead of queued details, so the listing is
        found first), unless the page cap or the source's time budget says stop."""
        if source.load_more_pages is not None and page > source.load_more_pages:
            return
        if time.monotonic() - started > source.load_more_seconds:
            outcome(ctx).errors.append(
                f"load-more stopped at page {page}: time budget of "
                f"{source.load_more_seconds:.0f} s used"
            )
            return
        request = request_or_skip(
            ctx,
            lambda: Request.from_url(
                _base(source) + "/load-event-2",
                method="POST",
                headers={**BASE_HEADERS, **AJAX_HEADERS},
                payload=urlencode(
                    {
                        "start": 10 * page,
                        "sort": "Default",
                        "title": "",
                        "peserta": 5,
                        "lokasi": "Semua Lokasi",
                        "kategori": "Semua Kategori",
                    }
                ).encode(),
                label="INFOLOMBA_MORE",
                unique_key=f"{source.name}:more:{page}",
                user_data={"source": source.name, "page": page},
            ),
            {"url": f"load-more page {page}"},
        )
        for each in request:
            await queue.add_request(each, forefront=True)

    @crawler.router.handler("INFOLOMBA_LIST")
    async def infolomba_list(ctx: ParselCrawlingContext) -> None:
        source = by_name[ctx.request.user_data["source"]]
        outcome(ctx).pages += 1
        await enqueue_infolomba_cards(ctx, (await body(ctx)).decode(errors="replace"), "list")
        await follow_load_more(ctx, source, 1)

    @crawler.router.handler("INFOLOMBA_MORE")
    async def infolomba_more(ctx: ParselCrawlingContext) -> None:
        source = by_name[ctx.request.user_data["source"]]
        number = ctx.request.user_data["page"]
        page = f"load-more page {number}"
        outcome(ctx).pages += 1
        try:
            html = parsers.json_html(await body(ctx), page)
        except ValueError as exc:
            outcome(ctx).errors.append(str(exc))
            return
        # the site's own end: a page that adds no card this pass has not seen
        if await enqueue_infolomba_cards(ctx, html, page):
            await follow_load_more(ctx, source, number + 1)

    @crawler.router.handler("INFOLOMBA_DETAIL")
    async def infolomba_detail(ctx: ParselCrawlingContext) -> None:
        source = by_name[ctx.request.user_data["source"]]
        listing = dict(ctx.request.user_data["listing"])
        outcome(ctx).pages += 1
        try:
            html = parsers.json_html(await body(ctx), f"detail of {listing['url']}")
            detail = parsers.infolomba_detail(html, _base(source))
        except ValueError as exc:
            _keep_listing(
                outcome(ctx), source, listing, str(exc), ctx.request.user_data["card_hash"]
            )
            return
        outcome(ctx).errors.extend(f"detail of {listing['url']}: {p}" for p in detail["problems"])
        outcome(ctx).items.append(
            _item(
                source,
                listing,
                caption=detail["description"],
                image_url=listing.get("image_url") or detail["image_url"],
                extra_hints=detail["hints"],
                hashed=ctx.request.user_data["card_hash"],
            )
        )

    # -- Blogger -------------------------------------------------------------------------------
    @crawler.router.handler("BLOGGER_FEED")
    async def blogger_feed(ctx: ParselCrawlingContext) -> None:
        source = by_name[ctx.request.user_data["source"]]
        result = outcome(ctx)
        result.pages += 1
        feed = ctx.request.user_data["feed"]
        if ctx.http_response.status_code == 304:
            result.not_modified += 1  # unchanged since the last full answer: all of it stored
            return
        answered = _validators_of(ctx.http_response.headers)
        if answered:
            result.validators[feed] = answered
        since = now - timedelta(days=source.freshness_days)
        try:
            listings, errors = parsers.blogger_entries(await body(ctx), ctx.request.url, since)
        except ValueError as exc:
            result.errors.append(str(exc))
            return
        result.errors.extend(errors)
        for listing in listings:
            result.items.append(_item(source, listing))

    # -- generic -------------------------------------------------------------------------------
    @crawler.router.handler("GENERIC_LIST")
    async def generic_list(ctx: ParselCrawlingContext) -> None:
        source = by_name[ctx.request.user_data["source"]]
        result = outcome(ctx)
        result.pages += 1
        html = (await body(ctx)).decode(errors="replace")
        listings, errors = parsers.generic_cards(html, ctx.request.url, source)
        result.errors.extend(errors)
        details = []
        for listing in listings:
            if source.detail is None:
                result.items.append(_item(source, listing))
            elif not detail_known(ctx, source, listing):
                details += request_or_skip(
                    ctx,
                    lambda listing=listing: Request.from_url(
                        listing["url"],
                        headers=BASE_HEADERS,
                        label="GENERIC_DETAIL",
                        user_data={
                            "source": source.name,
                            "listing": listing,
                            "card_hash": card_hash(listing),
                        },
                    ),
                    listing,
                )
        await ctx.add_requests(details)
        depth = ctx.request.user_data.get("page", 1)
        next_href = ctx.selector.css(source.next_page).get() if source.next_page else None
        if next_href and depth < source.max_pages:
            from urllib.parse import urljoin

            try:
                next_url = checked_link(urljoin(ctx.request.url, next_href.strip()))
            except (BadLink, ValueError) as exc:
                result.errors.append(f"{ctx.request.url}: next page not followed ({exc})")
                return
            await ctx.add_requests(
                request_or_skip(
                    ctx,
                    lambda: Request.from_url(
                        next_url,
                        headers=BASE_HEADERS,
                        label="GENERIC_LIST",
                        user_data={"source": source.name, "page": depth + 1},
                    ),
                    {"url": next_url},
                )
            )

    @crawler.router.handler("GENERIC_DETAIL")
    async def generic_detail(ctx: ParselCrawlingContext) -> None:
        source = by_name[ctx.request.user_data["source"]]
        listing = dict(ctx.request.user_data["listing"])
        outcome(ctx).pages += 1
        html = (await body(ctx)).decode(errors="replace")
        detail = parsers.generic_detail(html, ctx.request.url, source.detail)
        outcome(ctx).errors.extend(detail["problems"])
        outcome(ctx).items.append(
            _item(
                source,
                listing,
                caption=detail["description"] or listing.get("caption"),
                image_url=detail["image_url"] or listing.get("image_url"),
                extra_hints=detail["hints"],
                hashed=ctx.request.user_data["card_hash"],
            )
        )

    @crawler.failed_request_handler
    async def failed(ctx, error: Exception) -> None:
        source = by_name[ctx.request.user_data["source"]]
        result = outcome(ctx)
        reason = _reason(error)
        label = ctx.request.label
        if label in {"INFOLOMBA_LIST", "BLOGGER_FEED"} or (
            label == "GENERIC_LIST" and ctx.request.user_data.get("page", 1) == 1
        ):
            result.unreachable = f"{reason} ({ctx.request.url})"
        elif label in {"INFOLOMBA_DETAIL", "GENERIC_DETAIL"}:
            listing = dict(ctx.request.user_data["listing"])
            _keep_listing(
                result,
                source,
                listing,
                f"detail {listing['url']}: {reason}",
                ctx.request.user_data.get("card_hash"),
            )
        else:
            result.errors.append(f"{ctx.request.url}: {reason}")

    start = []
    for source in sources:
        start.extend(_start_requests(source, Request, validators or {}))
    try:
        await asyncio.wait_for(crawler.run(start), timeout=crawl.pass_timeout_seconds)
    except TimeoutError:
        for result in outcomes.values():
            result.errors.append(f"crawl stopped after {crawl.pass_timeout_seconds:.0f} s")
    return outcomes


def _validators_of(headers) -> dict[str, str]:
    found = {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}
    return {k: v for k, v in found.items() if v}


def _conditional(known: dict[str, str] | None) -> dict[str, str]:
    headers = {}
    if known and known.get("etag"):
        headers["If-None-Match"] = known["etag"]
    if known and known.get("last_modified"):
        headers["If-Modified-Since"] = known["last_modified"]
    return headers


def _start_requests(source, Request, validators: dict) -> list:
    user_data = {"source": source.name}
    if isinstance(source, InfolombaSource):
        return [
            Request.from_url(
                _base(source) + source.list_path,
                headers=BASE_HEADERS,
                label="INFOLOMBA_LIST",
                user_data=user_data,
            )
        ]
    if isinstance(source, BloggerSource):
        params = {"alt": "json", "max-results": source.max_results}
        if source.query:
            params["q"] = source.query
        feed = f"{_base(source)}/feeds/posts/default?{urlencode(params)}"
        return [
            Request.from_url(
                feed,
                headers={**BASE_HEADERS, **_conditional(validators.get(feed))},
                label="BLOGGER_FEED",
                user_data={**user_data, "feed": feed},
            )
        ]
    if isinstance(source, GenericSource):
        return [
            Request.from_url(
                str(url), headers=BASE_HEADERS, label="GENERIC_LIST", user_data=dict(user_data)
            )
            for url in source.list_urls
        ]
    raise TypeError(f"unknown source type {type(source).__name__}")


def _base(source) -> str:
    return str(source.base_url).rstrip("/")


def _item(
    source, listing: dict, caption=None, image_url=None, extra_hints=None, hashed=None
) -> ScrapedItem:
    """``hashed``: the card hash taken when the card was read (user_data may round-trip the
    listing through JSON); else it is taken from ``listing`` now."""
    hints = {**listing.get("hints", {}), **(extra_hints or {})}
    return ScrapedItem(
        source_kind="web",
        source_name=source.name,
        url=listing["url"],
        title=listing.get("title"),
        caption=caption or listing.get("caption"),
        image_url=image_url or listing.get("image_url"),
        external_id=listing.get("external_id"),
        posted_at=listing.get("posted_at"),
        hints=hints,
        payload={k: v for k, v in listing.items() if k != "posted_at"},
        card_hash=hashed or card_hash(listing),
    )


def _keep_listing(
    result: SourceOutcome, source, listing: dict, error: str, hashed: str | None = None
) -> None:
    """The detail failed: keep what the list card said, and record why the rest is missing."""
    result.errors.append(error)
    item = _item(source, listing, hashed=hashed)
    item.hints["detail_error"] = error
    result.items.append(item)


def _reason(error: Exception) -> str:
    if isinstance(error, OutboundError):  # the URL is named next to it by the caller
        return f"{type(error).__name__}: {error.reason}"[:200]
    status = getattr(error, "status_code", None)
    if status:
        return f"HTTP {status}"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:200]


def _quiet_logger() -> logging.Logger:
    # failures are reported per source by this module; crawlee's tracebacks would only repeat them
    for name in ("crawlee", "lomba_pipeline.crawlee"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return logging.getLogger("lomba_pipeline.crawlee")
