"""Scrape cost at production settings: a first pass, and a whole-window re-run of the same site.

A SYNTHETIC infolomba-style site with N listings is served on 127.0.0.1 by uvicorn in a
separate process. A first pass reads 1 list page + N/10 ``POST /load-event-2`` pages (the last
one adds nothing, which ends the listing) + N ``POST /load-details``. By default the crawl runs
with the production politeness delay (``CrawlSettings().per_host_delay_seconds``, 0.5 s between
two requests to one host), so the ideal bound of a pass is pages / hosts x delay; it is printed
next to the measured wall.

The re-run is the same window again after every record was extracted complete: the crawl is
given the first pass's canonical URLs and card hashes (what ``raw_items.skippable_details``
returns from Postgres after extraction), so only list and load-more pages are read. Goal: re-run
wall <= 0.10 of the first pass's wall. Each round is first pass then re-run; medians of the rounds.

``--fast`` gives the old figure: no politeness delay, and the crawlee pipeline side by side with a
minimal bounded asyncio httpx + parsel loop (which checks nothing; crawlee's requests all go
through the outbound-fetch policy, the local site allowed explicitly).

    .venv/bin/python bench/scrape.py [--listings 1000] [--concurrency 10] [--runs 3] [--fast]
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


def production_delay() -> float:
    from lomba_pipeline.catalog.sources.config import CrawlSettings

    return CrawlSettings().per_host_delay_seconds


def crawlee_pass(base: str, concurrency: int, delay: float, known: dict | None = None):
    """One crawl of the site: (outcome, wall seconds)."""
    from lomba_pipeline.catalog.sources.config import CrawlSettings, InfolombaSource
    from lomba_pipeline.catalog.sources.web_crawl import crawl_web
    from lomba_pipeline.resources.outbound import OutboundPolicy

    # no page cap: the listing ends where the site's load-more pages add nothing
    source = InfolombaSource(name="bench", type="infolomba", base_url=base)
    crawl = CrawlSettings(
        desired_concurrency=concurrency,
        max_concurrency=concurrency,
        per_host_delay_seconds=delay,
        max_request_retries=0,
        pass_timeout_seconds=3600,
    )
    start = time.perf_counter()
    policy = OutboundPolicy.from_setting(base.split("://", 1)[1])  # the local site only
    outcome = crawl_web([source], crawl, datetime.now(UTC), policy, known)["bench"]
    elapsed = time.perf_counter() - start
    assert not outcome.errors and not outcome.unreachable, outcome.errors[:3]
    return outcome, elapsed


def crawlee_run(base: str, concurrency: int, delay: float = 0.0) -> tuple[int, int, float]:
    outcome, elapsed = crawlee_pass(base, concurrency, delay)
    return outcome.pages, len(outcome.items), elapsed


def first_and_rerun(base: str, concurrency: int, delay: float, listings: int):
    """(first pages, first wall, re-run pages, re-run wall, details skipped on the re-run)."""
    first, first_wall = crawlee_pass(base, concurrency, delay)
    assert len(first.items) == listings, f"{len(first.items)} listings, expected {listings}"
    known = {item.canonical_url: item.card_hash for item in first.items}
    again, again_wall = crawlee_pass(base, concurrency, delay, known)
    assert len(again.items) == listings and again.details_skipped == listings
    return first.pages, first_wall, again.pages, again_wall


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


def httpx_run(base, concurrency, pages_after_first):
    start = time.perf_counter()
    pages, items = asyncio.run(httpx_loop(base, pages_after_first, concurrency))
    return pages, items, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--fast", action="store_true", help="no politeness delay; crawlee vs a plain httpx loop"
    )
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

    import crawlee  # noqa: F401  (import cost is not part of the figure)

    try:
        if args.fast:
            fast_comparison(args, base)
        else:
            production_rounds(args, base)
    finally:
        server.terminate()


def production_rounds(args, base: str) -> None:
    delay = production_delay()
    hosts = 1
    rounds = []
    for _ in range(args.runs):
        rounds.append(first_and_rerun(base, args.concurrency, delay, args.listings))
    first_pages, _, again_pages, _ = rounds[0]
    first_wall = statistics.median(r[1] for r in rounds)
    again_wall = statistics.median(r[3] for r in rounds)
    ratio = statistics.median(r[3] / r[1] for r in rounds)
    print(
        f"{args.listings} listings on 127.0.0.1 ({hosts} host), per-host delay {delay} s "
        f"(production), concurrency {args.concurrency}, {args.runs} rounds (median)"
    )
    print("  ideal bound = pages / hosts x delay (the first request waits for nothing)")
    for label, pages, wall, walls in (
        ("first pass", first_pages, first_wall, [r[1] for r in rounds]),
        ("re-run, unchanged site", again_pages, again_wall, [r[3] for r in rounds]),
    ):
        bound = pages / hosts * delay
        print(
            f"  {label:24s} {pages:5d} pages  wall {wall:7.2f} s  ideal bound {bound:7.2f} s  "
            f"wall/bound {wall / bound:.2f}  (rounds: {', '.join(f'{w:.2f}' for w in walls)})"
        )
    print(f"  re-run / first pass wall: {ratio:.3f}  (goal <= 0.10)")


def fast_comparison(args, base: str) -> None:
    pages_after_first = (args.listings + 9) // 10 - 1
    results = {"crawlee ParselCrawler": [], "asyncio httpx + parsel": []}
    for _ in range(args.runs):
        # alternate so that machine noise hits both alike
        for name, run in (
            ("crawlee ParselCrawler", crawlee_run),
            ("asyncio httpx + parsel", lambda b, c: httpx_run(b, c, pages_after_first)),
        ):
            pages, items, elapsed = run(base, args.concurrency)
            assert items == args.listings, f"{name}: {items} listings, expected {args.listings}"
            results[name].append((pages, elapsed))

    print(
        f"{args.listings} listings = {results['crawlee ParselCrawler'][0][0]} pages on 127.0.0.1, "
        f"concurrency {args.concurrency}, no politeness delay (--fast), {args.runs} runs (median)"
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
