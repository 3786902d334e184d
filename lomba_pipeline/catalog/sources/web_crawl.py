"""Crawl the configured web catalogs with crawlee's ``ParselCrawler`` in one pass.

One crawler serves every web source (shared concurrency budget, in-memory storage, retries) and
routes each request by label to its site type's handler (``sites/``, one module per type). This
module is the loop they share: politeness per host, every request through the outbound-fetch
policy, the pass deadline, and what a failed request means for its source. A failing card,
detail page or feed becomes an error on that source; it never stops the crawl.

Re-runs skip what is known: a card whose canonical URL and card hash appear in ``known_details``
(complete records, see ``raw_items.skippable_details``) yields its card-only item without its
detail page being fetched. ``validators`` (URL -> ETag / Last-Modified, and for list pages what
the page held) make feeds and list pages conditional requests (``crawl_pass``); what a full
answer gave comes back in ``SourceOutcome.validators``, to be saved once its items are stored.

Budgets are read on ``clock`` (monotonic seconds, injectable): a source's load-more budget, and
the pass deadline, after which no further request goes out; the cards of details not fetched
are kept (marked incomplete, so the next pass reads them) and the source's ``stopped_early``
says why. A wall-clock backstop still cancels a pass stuck inside one request.

A paged listing stops being followed once it is known (``crawl_pass``: incremental listings),
except on the daily full listing (``full_listing``; None: decided on ``now``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from lomba_pipeline.catalog.sources.config import CrawlSettings
from lomba_pipeline.catalog.sources.crawl_pass import (
    DETAIL,
    ENTRY,
    Clock,
    CrawlPass,
    SourceOutcome,
)
from lomba_pipeline.catalog.sources.sites import SITE_TYPES, site_type_of
from lomba_pipeline.resources.outbound import OutboundError, OutboundPolicy

__all__ = ["SourceOutcome", "crawl_web", "crawl_web_async"]


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


def crawl_web(*args, **kwargs) -> dict[str, SourceOutcome]:
    """``crawl_web_async`` (same arguments) for blocking callers: it runs on its own event loop,
    in a thread of its own if this thread already runs one."""
    coroutine = crawl_web_async(*args, **kwargs)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(value=asyncio.run(coroutine)))
    thread.start()
    thread.join()
    return result["value"]


async def crawl_web_async(
    sources: list,
    crawl: CrawlSettings,
    now: datetime,
    outbound: OutboundPolicy | None = None,
    known_details: dict[str, str] | None = None,
    validators: dict[str, dict] | None = None,
    clock: Clock = time.monotonic,
    full_listing: bool | None = None,
) -> dict[str, SourceOutcome]:
    """Crawl ``sources``; every request goes through ``outbound`` (default: the strict policy, no
    internal hosts). ``known_details``: canonical URL -> card hash of items whose detail need not
    be re-read; ``validators``: URL -> what it answered with last time (``crawl_pass``)."""
    from crawlee import ConcurrencySettings
    from crawlee.crawlers import ParselCrawler
    from crawlee.errors import ContextPipelineInterruptedError
    from crawlee.storage_clients import MemoryStorageClient
    from crawlee.storages import RequestQueue

    # imported here: crawlee costs ~1 s to import, and the code location loads this module
    from lomba_pipeline.catalog.sources.crawl_client import OutboundHttpClient

    state = CrawlPass(
        sources, now, crawl.pass_timeout_seconds, known_details, validators, clock, full_listing
    )
    if not sources:
        return state.outcomes

    storage = MemoryStorageClient()
    # a queue of its own: crawlee caches the default queue per process, and a second pass in
    # the same process would otherwise treat every request as already handled
    state.queue = await RequestQueue.open(
        alias=f"lomba-{uuid.uuid4().hex}", storage_client=storage
    )
    policy = outbound or OutboundPolicy()
    # one page may take at most the crawl's request timeout, never more than the policy allows
    policy = replace(
        policy, deadline_seconds=min(policy.deadline_seconds, crawl.request_timeout_seconds)
    )
    handler_timeout = crawl.request_timeout_seconds * 2
    crawler = ParselCrawler(
        storage_client=storage,
        request_manager=state.queue,
        http_client=OutboundHttpClient(policy, max_connections=crawl.max_concurrency),
        concurrency_settings=ConcurrencySettings(
            desired_concurrency=crawl.desired_concurrency, max_concurrency=crawl.max_concurrency
        ),
        max_request_retries=crawl.max_request_retries,
        request_handler_timeout=timedelta(seconds=handler_timeout),
        configure_logging=False,
        use_session_pool=False,
        retry_on_blocked=False,
        status_message_logging_interval=timedelta(hours=1),
        _logger=_quiet_logger(),
    )
    pacer = _HostPacer(crawl.per_host_delay_seconds)

    @crawler.pre_navigation_hook
    async def polite_and_in_time(ctx) -> None:
        # checked before and after the politeness wait: past the deadline, a queued request
        # is dropped at once instead of waiting its turn first
        for wait in (False, True):
            if state.past_deadline():
                state.not_requested(ctx.request)
                raise ContextPipelineInterruptedError("pass deadline reached")
            if wait:
                await pacer.wait(ctx.request.url)

    for site in SITE_TYPES.values():
        for label, handler in site.handlers.items():
            crawler.router.handler(label)(_bound(handler, state))

    @crawler.failed_request_handler
    async def failed(ctx, error: Exception) -> None:
        result = state.outcome(ctx)
        reason = _reason(error)
        role = ctx.request.user_data.get("role")
        if role == ENTRY:
            result.unreachable = f"{reason} ({ctx.request.url})"
        elif role == DETAIL:
            listing = ctx.request.user_data["listing"]
            state.keep_listing(ctx, f"detail {listing['url']}: {reason}")
        else:
            result.errors.append(f"{ctx.request.url}: {reason}")

    start = [r for s in sources for r in site_type_of(s).start_requests(state, s)]
    # the clock's deadline stops the pass between requests; this wall-clock backstop only
    # cancels one stuck inside a request (it gets the deadline plus one handler's time)
    backstop = crawl.pass_timeout_seconds + handler_timeout
    try:
        await asyncio.wait_for(crawler.run(start), timeout=backstop)
    except TimeoutError:
        for name in state.outcomes:
            state.stop_early(name, f"crawl cancelled after {backstop:.0f} s")
    state.finish()
    return state.outcomes


def _bound(handler, state: CrawlPass):
    async def handle(ctx) -> None:
        await handler(state, ctx)

    return handle


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
