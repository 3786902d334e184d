"""Scrape cost at production settings: a first pass, an unchanged re-run, a re-run whose list
pages answer "304 Not Modified", the daily full listing; and with ``--fast`` crawlee against a
plain httpx loop.

A SYNTHETIC site is served on 127.0.0.1 by uvicorn in a separate process, with two catalogs:
- infolomba-style (``--listings``, default 100): 1 list page + load-more POST pages of 10 (the
  last adds nothing, which ends the listing) + one ``POST /load-details`` per listing;
- a generic server-rendered catalog (``--katalog``, default 40): GET pages of 5 followed through
  their "next" link (the last is empty) + one GET detail page per listing.
Its GET list pages send ETags and answer conditional requests.

By default the crawl runs with the production politeness delay (``CrawlSettings()``: 0.5 s
between two requests to one host), so the IDEAL BOUND of a pass is (pages - 1) x delay (one host,
the first request waits for nothing); it is printed beside every wall figure. Per round and catalog:
- first pass: nothing known (every list page read);
- re-run, unchanged site: the first pass's canonical URLs and card hashes are known (what
  ``raw_items.skippable_details`` returns after extraction), so no detail is read, and the
  listing stops being followed once a list page held only known cards (incremental listing,
  the default ``stop_after_known_pages: 1``): one list page per catalog;
- re-run, list pages 304: the same, plus the validators and page state the first pass answered
  with (what ``crawl_validators`` keeps): the GET list page answers 304 and no body is read.
  Each request still costs its politeness slot; the gain is in bytes read and the crawler's CPU.
  infolomba's load-more pages are POSTs, never 304;
- daily full listing: the re-run of the first pass of a Jakarta day, which reads every list
  page (known, with validators) to catch edits deep in a listing.
Rounds ALTERNATE the order of the passes (round 1 must start with a first pass; later rounds
reuse its knowledge), and every ratio is the MEDIAN of the per-round ratios (>= 5 rounds).
Goal (issue 14): re-run wall <= 0.10 of the first pass; the floor of that ratio is the list
pages a re-run reads / first-pass pages.

``--fast``: no politeness delay; the crawlee pipeline (every request through the outbound-fetch
policy, the local site allowed explicitly) against a minimal bounded asyncio httpx + parsel loop
(which checks nothing), alternating which goes first, median of the per-round rate ratios.

    .venv/bin/python bench/scrape.py [--listings 100] [--katalog 40] [--rounds 5]
    .venv/bin/python bench/scrape.py --fast [--listings 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

FIRST, RERUN, RERUN_304 = "first pass", "re-run, unchanged site", "re-run, list pages 304"
FULL_RERUN = "re-run, daily full listing"


def serve(port: int, listings: int) -> None:
    from lomba_pipeline.demo.content import make_events
    from lomba_pipeline.demo.site import SyntheticSite

    SyntheticSite(events=make_events(listings), list_validators="etag").start(port)
    while True:
        time.sleep(3600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_delay() -> float:
    from lomba_pipeline.catalog.sources.config import CrawlSettings

    return CrawlSettings().per_host_delay_seconds


@dataclass
class Pass:
    pages: int
    items: int
    wall: float
    cpu: float  # the crawler's process CPU (the site runs in another process)
    body_bytes: int
    not_modified: int
    details_skipped: int
    list_pages_not_read: int
    outcome: object


def sources(base: str) -> dict:
    from lomba_pipeline.catalog.sources.config import GenericSource, InfolombaSource

    # no page caps: each listing ends where the site's pages add nothing
    return {
        "infolomba": InfolombaSource(name="infolomba", type="infolomba", base_url=base),
        "katalog": GenericSource(
            name="katalog",
            type="generic",
            list_urls=[f"{base}/katalog?page=1"],
            item="article.lomba-card",
            title="h2.judul a::text",
            link="h2.judul a::attr(href)",
            fields={"deadline": ".deadline::text"},
            next_page="a.next::attr(href)",
            max_pages=100,
            detail={"description": ".isi ::text"},
        ),
    }


def crawl_pass(
    base, source, concurrency, delay, known=None, validators=None, full_listing=True
) -> Pass:
    from lomba_pipeline.catalog.sources.config import CrawlSettings
    from lomba_pipeline.catalog.sources.web_crawl import crawl_web
    from lomba_pipeline.resources.outbound import OutboundPolicy

    crawl = CrawlSettings(
        desired_concurrency=concurrency,
        max_concurrency=concurrency,
        per_host_delay_seconds=delay,
        max_request_retries=0,
        pass_timeout_seconds=3600,
    )
    policy = OutboundPolicy.from_setting(base.split("://", 1)[1])  # the local site only
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = crawl_web(
        [source], crawl, datetime.now(UTC), policy, known, validators, full_listing=full_listing
    )
    outcome = outcome[source.name]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert not outcome.errors and not outcome.unreachable, outcome.errors[:3]
    return Pass(
        outcome.pages,
        len(outcome.items),
        wall,
        cpu,
        outcome.body_bytes,
        outcome.not_modified,
        outcome.details_skipped,
        outcome.list_pages_not_read,
        outcome,
    )


def production_rounds(args, bases: dict[str, str]) -> None:
    delay = production_delay()
    counts = {"infolomba": args.listings, "katalog": args.katalog}
    print(
        f"production settings: per-host delay {delay} s (one host per catalog), concurrency "
        f"{args.concurrency}, {args.rounds} alternating rounds, medians; "
        f"ideal bound = (pages - 1) x delay (the first request waits for nothing)"
    )
    for name, base in bases.items():
        source, listings = sources(base)[name], counts[name]
        runs: dict[str, list[Pass]] = {FIRST: [], RERUN: [], RERUN_304: [], FULL_RERUN: []}
        known = validators = None
        for number in range(args.rounds):
            order = [FIRST, RERUN, RERUN_304, FULL_RERUN]
            if number % 2:  # alternate: later rounds reuse round 1's knowledge
                order.reverse()
            for kind in order:
                if kind == FIRST:
                    result = crawl_pass(base, source, args.concurrency, delay)
                    if known is None:
                        known = {i.canonical_url: i.card_hash for i in result.outcome.items}
                        validators = dict(result.outcome.validators)
                else:
                    result = crawl_pass(
                        base, source, args.concurrency, delay, known,
                        validators if kind != RERUN else None,
                        full_listing=kind == FULL_RERUN,
                    )
                    # every card read was known: no detail page opened
                    assert result.details_skipped == result.items, (kind, result.details_skipped)
                    if kind != FULL_RERUN:
                        assert result.outcome.listing_known, (kind, result.outcome.errors)
                if kind in (FIRST, FULL_RERUN):
                    assert result.items == listings, f"{name} {kind}: {result.items} of {listings}"
                runs[kind].append(result)
        print(f"\n{name}: {listings} listings ({_shape(name)})")
        for kind, passes in runs.items():
            pages = passes[0].pages
            wall = statistics.median(p.wall for p in passes)
            bound = (pages - 1) * delay
            print(
                f"  {kind:24s} {pages:4d} pages  wall {wall:7.2f} s  ideal bound {bound:7.2f} s"
                f"  wall/bound {f'{wall / bound:.3f}' if bound else '  n/a'}"
                f"  304s {passes[0].not_modified:3d}"
                f"  bodies {statistics.median(p.body_bytes for p in passes) / 1024:7.1f} KiB"
                f"  crawler CPU {statistics.median(p.cpu for p in passes):5.2f} s"
                f"  list pages not read {passes[0].list_pages_not_read:3d}"
                f"  (walls: {', '.join(f'{p.wall:.2f}' for p in passes)})"
            )
        first_pages = runs[FIRST][0].pages
        for kind in (RERUN, RERUN_304, FULL_RERUN):
            pairs = zip(runs[FIRST], runs[kind], strict=True)
            ratios = [again.wall / first.wall for first, again in pairs]
            floor = (runs[kind][0].pages - 1) / (first_pages - 1)
            print(
                f"  {kind} / first pass wall: median {statistics.median(ratios):.3f}"
                f"  (ideal {floor:.3f}: the list pages it reads; goal <= 0.10; rounds: "
                f"{', '.join(f'{r:.3f}' for r in ratios)})"
            )
        cpu = [b.cpu / a.cpu for a, b in zip(runs[RERUN], runs[RERUN_304], strict=True)]
        body = runs[RERUN_304][0].body_bytes / max(runs[RERUN][0].body_bytes, 1)
        print(
            f"  list pages 304 vs read in full (re-runs): bytes read {body:.3f}, crawler CPU "
            f"median {statistics.median(cpu):.3f} (rounds: {', '.join(f'{r:.2f}' for r in cpu)})"
        )


def _shape(name: str) -> str:
    if name == "infolomba":
        return "GET list + POST load-more pages of 10 + POST detail per listing"
    return "GET list pages of 5 via 'next' links + GET detail per listing"


# -- --fast: crawlee against a plain httpx loop, no politeness delay ----------------------------
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


def fast_comparison(args, base: str) -> None:
    crawlee_name, httpx_name = "crawlee ParselCrawler", "asyncio httpx + parsel"
    source = sources(base)["infolomba"]
    pages_after_first = (args.listings + 9) // 10 - 1

    def crawlee_run():
        result = crawl_pass(base, source, args.concurrency, 0.0)
        return result.pages, result.items, result.wall

    def httpx_run():
        start = time.perf_counter()
        pages, items = asyncio.run(httpx_loop(base, pages_after_first, args.concurrency))
        return pages, items, time.perf_counter() - start

    results = {crawlee_name: [], httpx_name: []}
    for number in range(args.rounds):
        order = [(crawlee_name, crawlee_run), (httpx_name, httpx_run)]
        if number % 2:
            order.reverse()  # alternate, so that machine noise hits both alike
        for name, run in order:
            pages, items, elapsed = run()
            assert items == args.listings, f"{name}: {items} listings, expected {args.listings}"
            results[name].append((pages, elapsed))

    print(
        f"{args.listings} infolomba listings on 127.0.0.1, concurrency {args.concurrency}, no "
        f"politeness delay (--fast), {args.rounds} alternating rounds, medians"
    )
    rates = {}
    for name, runs in results.items():
        rates[name] = [pages / elapsed for pages, elapsed in runs]
        print(
            f"  {name:24s} {runs[0][0]:5d} pages  {statistics.median(rates[name]):7.1f} pages/s"
            f"  (rounds: {', '.join(f'{r:.0f}' for r in rates[name])}; "
            f"median {statistics.median(e for _, e in runs):.2f} s per pass)"
        )
    ratios = [c / h for c, h in zip(rates[crawlee_name], rates[httpx_name], strict=True)]
    print(
        f"  ratio crawlee / httpx loop (pages/s): median {statistics.median(ratios):.2f}"
        f"  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listings", type=int, help="infolomba listings (100; --fast: 1000)")
    parser.add_argument("--katalog", type=int, default=40, help="generic catalog listings")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--fast", action="store_true", help="no politeness delay; crawlee vs a plain httpx loop"
    )
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error("--rounds: a side-by-side ratio needs the median of at least 5 rounds")
    if args.listings is None:
        args.listings = 1000 if args.fast else 100

    # one site per catalog: each serves its catalog's listing count
    counts = {"infolomba": args.listings} if args.fast else {
        "infolomba": args.listings, "katalog": args.katalog
    }
    sites = {name: start_site(count) for name, count in counts.items()}
    import crawlee  # noqa: F401  (import cost is not part of the figure)

    try:
        if args.fast:
            fast_comparison(args, sites["infolomba"][1])
        else:
            production_rounds(args, {name: base for name, (_, base) in sites.items()})
    finally:
        for server, _ in sites.values():
            server.terminate()


def start_site(listings: int):
    """(server process, base URL) of a synthetic site with ``listings`` events, once it answers."""
    import httpx

    port = free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(port, listings), daemon=True
    )
    server.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            httpx.get(base + "/events", timeout=1)
            return server, base
        except httpx.HTTPError:
            if time.time() > deadline:
                server.terminate()
                raise SystemExit("synthetic site did not start") from None
            time.sleep(0.2)


if __name__ == "__main__":
    main()
