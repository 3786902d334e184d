"""Scrape throughput: the crawlee pipeline vs a minimal bounded asyncio httpx + parsel loop.

The crawlee pipeline sends every request through the outbound-fetch policy (checked address,
deadline, byte cap; the local site is allowed explicitly); the plain loop checks nothing.

A SYNTHETIC infolomba-style site with 1,000 listings is served on 127.0.0.1 by uvicorn in a
separate process: 1 list page + 99 ``POST /load-event-2`` pages + 1,000 ``POST /load-details``
= 1,100 pages. Both crawlers fetch exactly those pages and parse them with the same parsers
(``lomba_pipeline.catalog.sources.parsers``); the figure is pages per second, median of the runs.

    .venv/bin/python bench/scrape.py [--listings 1000] [--concurrency 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time
from datetime import UTC, datetime
from urllib.parse import urlencode


def serve(port: int, listings: int) -> None:
    from lomba_pipeline.demo.content import make_events
    from lomba_pipeline.demo.site import SyntheticSite

    SyntheticSite(events=make_events(listings)).start(port)
    while True:
        time.sleep(3600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def crawlee_run(base: str, pages_after_first: int, concurrency: int) -> tuple[int, int, float]:
    from lomba_pipeline.catalog.sources.config import CrawlSettings, InfolombaSource
    from lomba_pipeline.catalog.sources.web_crawl import crawl_web
    from lomba_pipeline.resources.outbound import OutboundPolicy

    source = InfolombaSource(
        name="bench", type="infolomba", base_url=base, load_more_pages=pages_after_first
    )
    crawl = CrawlSettings(
        desired_concurrency=concurrency,
        max_concurrency=concurrency,
        per_host_delay_seconds=0,
        max_request_retries=0,
    )
    start = time.perf_counter()
    policy = OutboundPolicy.from_setting(base.split("://", 1)[1])  # the local site only
    outcome = crawl_web([source], crawl, datetime.now(UTC), policy)["bench"]
    elapsed = time.perf_counter() - start
    assert not outcome.errors and not outcome.unreachable, outcome.errors[:3]
    return outcome.pages, len(outcome.items), elapsed


async def httpx_loop(base: str, pages_after_first: int, concurrency: int):
    import httpx

    from lomba_pipeline.catalog.sources import parsers

    gate = asyncio.Semaphore(concurrency)
    headers = {"X-Requested-With": "XMLHttpRequest"}
    pages = 0
    items = []

    async def fetch(client, method, url, data=None):
        nonlocal pages
        async with gate:
            response = await client.request(method, url, data=data, headers=headers)
            response.raise_for_status()
            pages += 1
            return response.content

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def detail(card):
            body = await fetch(
                client, "POST", base + "/load-details", {"event_id": card["external_id"]}
            )
            items.append({**card, **parsers.infolomba_detail(parsers.json_html(body, "d"), base)})

        async def page(start):
            form = {"start": start, "sort": "Default", "title": "", "peserta": 5}
            body = await fetch(client, "POST", base + "/load-event-2", form)
            cards, _ = parsers.infolomba_cards(parsers.json_html(body, "p"), base)
            await asyncio.gather(*(detail(c) for c in cards))

        first = await fetch(client, "GET", base + "/events?" + urlencode({"sort": "Default"}))
        cards, _ = parsers.infolomba_cards(first.decode(), base)
        await asyncio.gather(
            *(detail(c) for c in cards),
            *(page(10 * n) for n in range(1, pages_after_first + 1)),
        )
    return pages, len(items)


def httpx_run(base, pages_after_first, concurrency):
    start = time.perf_counter()
    pages, items = asyncio.run(httpx_loop(base, pages_after_first, concurrency))
    return pages, items, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    port = free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(port, args.listings), daemon=True
    )
    server.start()
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.time() + 30
    while True:
        try:
            httpx.get(base + "/events", timeout=1)
            break
        except httpx.HTTPError:
            if time.time() > deadline:
                raise SystemExit("synthetic site did not start") from None
            time.sleep(0.2)

    pages_after_first = (args.listings + 9) // 10 - 1
    import crawlee  # noqa: F401  (import cost is not part of the figure)

    results = {"crawlee ParselCrawler": [], "asyncio httpx + parsel": []}
    try:
        for _ in range(args.runs):
            # alternate so that machine noise hits both alike
            for name, run in (
                ("crawlee ParselCrawler", crawlee_run),
                ("asyncio httpx + parsel", httpx_run),
            ):
                pages, items, elapsed = run(base, pages_after_first, args.concurrency)
                assert items == args.listings, f"{name}: {items} listings, expected {args.listings}"
                results[name].append((pages, elapsed))
    finally:
        server.terminate()

    print(
        f"{args.listings} listings = {results['crawlee ParselCrawler'][0][0]} pages on 127.0.0.1, "
        f"concurrency {args.concurrency}, {args.runs} runs (median)"
    )
    rates = {}
    for name, runs in results.items():
        per_run = [pages / elapsed for pages, elapsed in runs]
        rates[name] = statistics.median(per_run)
        print(
            f"  {name:24s} {rates[name]:7.1f} pages/s   "
            f"(runs: {', '.join(f'{r:.0f}' for r in per_run)}; "
            f"median {statistics.median(e for _, e in runs):.2f} s per pass)"
        )
    ratio = rates["crawlee ParselCrawler"] / rates["asyncio httpx + parsel"]
    print(f"  ratio crawlee / httpx loop: {ratio:.2f}")


if __name__ == "__main__":
    main()
