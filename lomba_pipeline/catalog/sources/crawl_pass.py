"""One crawl pass's shared state, and the steps every site type builds its handlers from.

A site type (``sites/``) only knows its pages: which requests start it, how a page parses into
list cards, details and next pages. What is the same for every site lives here: per-source
outcomes, skipping the detail of a known card, conditional list pages, the time budget.

Roles of a request (``user_data["role"]``) say what its failure means: ``entry`` (the source
could not be read at all: unreachable), ``detail`` (keep the card, record why the rest is
missing), ``page`` (an error on the source; what was read stays).

Conditional list pages: a list page answered in full with an ETag or Last-Modified is
remembered with what it held (its parsed cards, errors and next-page link) once its items are
stored. Next pass asks with those validators; a "304 Not Modified" means the page is the same,
so its remembered cards go through exactly the path a full answer's cards take: a known complete
item with an unchanged card keeps its card and skips its detail, an incomplete or unknown one is
fetched again from its detail URL. Nothing is skipped because the page was not re-read. The
remembered cards are used only while the source's entry and the parsers are the ones that read
them (``_read_with``); after a change of selectors the page is read in full again.

Incremental listings: catalogs list newest first, so a pass stops following a source's "next" /
load-more once ``stop_after_known_pages`` list pages in a row held only known cards (each a
complete record whose card hash is unchanged: no new, changed or incomplete item). Edits deeper
in a listing are caught by the daily full listing (``full_listing_due``), which ignores the rule;
``stop_after_known_pages: 0`` reads every page on every pass.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from lomba_pipeline.catalog.sources.items import ScrapedItem, canonical_url, card_hash

Clock = Callable[[], float]  # monotonic seconds; injected in tests, ``time.monotonic`` otherwise

ENTRY, DETAIL, PAGE = "entry", "detail", "page"

# bump when a parser's output for the same page changes: remembered list cards are re-read
PARSERS_VERSION = 1

# the daily full listing: a pass whose ``now`` (its window's end) falls in these first hours of a
# Jakarta day, i.e. the schedule's midnight tick (one of its four six-hour windows a day)
FULL_LISTING_TZ = ZoneInfo("Asia/Jakarta")
FULL_LISTING_HOURS = 6

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
    body_bytes: int = 0  # bytes of page bodies read (a 304 reads none)
    # URL -> {"etag", "last_modified"[, "page"]}: validators (and list-page state) to save
    validators: dict[str, dict] = field(default_factory=dict)
    unreachable: str | None = None  # why the source's entry page could not be read
    skipped: str | None = None  # why the source was not attempted
    stopped_early: list[str] = field(default_factory=list)  # budgets that cut this source short
    not_requested: int = 0  # requests dropped because the pass deadline had passed
    full_listing: bool = False  # the daily full listing: every list page read, known or not
    # the listing was known (not a budget): where following it stopped, and why
    listing_known: list[str] = field(default_factory=list)
    list_pages_not_read: int = 0  # list pages left unread by that stop (at least this many)

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        if self.unreachable:
            return "unreachable"
        return "ok" if not self.errors else "ok with errors"


@dataclass
class ListPage:
    """What a list page held, parsed: kept with its validators to stand in for a 304's body."""

    listings: list[dict]
    errors: list[str] = field(default_factory=list)
    next_link: str | None = None  # the "next" href as written (checked when followed)

    def state(self) -> dict:
        return {"listings": self.listings, "errors": self.errors, "next_link": self.next_link}

    @classmethod
    def from_state(cls, state: dict) -> ListPage:
        return cls(list(state["listings"]), list(state.get("errors") or []), state.get("next_link"))


class CrawlPass:
    """The state one pass shares between the handlers of every site type."""

    def __init__(
        self,
        sources: list,
        now: datetime,
        pass_timeout_seconds: float,
        known_details: dict[str, str] | None = None,
        validators: dict[str, dict] | None = None,
        clock: Clock = time.monotonic,
        full_listing: bool | None = None,
    ):
        """``full_listing``: read every list page whatever ``stop_after_known_pages`` says
        (None: decided on ``now``, see ``full_listing_due``)."""
        self.by_name = {s.name: s for s in sources}
        self.full_listing = full_listing_due(now) if full_listing is None else full_listing
        self.outcomes = {
            s.name: SourceOutcome(s.name, full_listing=self.full_listing) for s in sources
        }
        self.now = now
        self.known = known_details or {}
        self.validators = validators or {}
        self.pass_timeout_seconds = pass_timeout_seconds
        self.clock = clock
        self.started = clock()
        self.queue = None  # the crawl's request queue, for requests that must go first
        self._seen: dict[str, set[str]] = {s.name: set() for s in sources}

    # -- who and what --------------------------------------------------------------------------
    def source(self, ctx):
        return self.by_name[ctx.request.user_data["source"]]

    def outcome(self, ctx) -> SourceOutcome:
        return self.outcomes[ctx.request.user_data["source"]]

    @staticmethod
    def user_data(source, role: str, **extra) -> dict:
        return {"source": source.name, "role": role, **extra}

    async def body(self, ctx) -> bytes:
        data = await ctx.http_response.read()
        self.outcome(ctx).body_bytes += len(data)
        return data

    def request_or_skip(self, ctx, make_request: Callable, what: str | None) -> list:
        """One request (in a list), or none: a link crawlee cannot request is skipped with its
        reason, and the rest of the page goes on."""
        try:
            return [make_request()]
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            reason = str(exc).strip().splitlines()[0][:150]
            self.outcome(ctx).errors.append(f"{what!r}: skipped ({reason})")
            return []

    # -- cards and details ---------------------------------------------------------------------
    def take_cards(
        self, ctx, listings: list[dict], detail_request: Callable | None, seen_key: str | None
    ) -> tuple[list, int]:
        """The detail requests of a page's cards, and how many cards this pass had not seen.
        ``detail_request(listing)`` builds one (None: the card is the whole item);
        ``seen_key``: the card field that identifies a card across the pass's pages."""
        source, result = self.source(ctx), self.outcome(ctx)
        seen = self._seen[source.name]
        requests, new = [], 0
        for listing in listings:
            if seen_key is not None:
                if listing[seen_key] in seen:
                    continue
                seen.add(listing[seen_key])
            new += 1
            if detail_request is None:
                result.items.append(item_of(source, listing))
            elif not self._detail_known(result, source, listing):
                requests += self.request_or_skip(
                    ctx, lambda listing=listing: detail_request(listing), listing.get("url")
                )
        return requests, new

    def card_known(self, listing: dict) -> bool:
        """The card of a known complete item, unchanged since it was stored."""
        try:
            key = canonical_url(listing["url"])
        except ValueError:
            return False
        return self.known.get(key) == card_hash(listing)

    def _detail_known(self, result: SourceOutcome, source, listing: dict) -> bool:
        """A known complete item with an unchanged card: keep the card, skip the detail."""
        if not self.card_known(listing):
            return False
        result.details_skipped += 1
        result.items.append(item_of(source, listing))
        return True

    def detail_data(self, source, listing: dict, **extra) -> dict:
        """``user_data`` of a card's detail request (the card hash taken now: user_data may
        round-trip the listing through JSON)."""
        return self.user_data(source, DETAIL, listing=listing, card_hash=card_hash(listing), **extra)

    def add_detail(self, ctx, caption, image_url, hints: dict, problems: list[str]) -> None:
        listing = dict(ctx.request.user_data["listing"])
        result = self.outcome(ctx)
        result.errors.extend(problems)
        result.items.append(
            item_of(
                self.source(ctx),
                listing,
                caption=caption,
                image_url=image_url,
                extra_hints=hints,
                hashed=ctx.request.user_data["card_hash"],
            )
        )

    def keep_listing(self, ctx, error: str) -> None:
        """The detail could not be read: keep what the list card said, and record why the rest
        is missing (the next pass opens it again)."""
        listing = dict(ctx.request.user_data["listing"])
        result = self.outcome(ctx)
        result.errors.append(error)
        item = item_of(self.source(ctx), listing, hashed=ctx.request.user_data.get("card_hash"))
        item.hints["detail_error"] = error
        result.items.append(item)

    # -- conditional requests ------------------------------------------------------------------
    def conditional_headers(self, url: str, list_page_of=None) -> dict[str, str]:
        """If-None-Match / If-Modified-Since for ``url`` from its last full answer. A list page
        (``list_page_of``: its source) is asked so only when what it held is remembered, read
        with the source's current selectors and parsers (a 304 must have cards to stand in)."""
        known = self.validators.get(url)
        if not known:
            return {}
        if list_page_of is not None and (known.get("page") or {}).get("read_with") != _read_with(
            list_page_of
        ):
            return {}
        headers = {}
        if known.get("etag"):
            headers["If-None-Match"] = known["etag"]
        if known.get("last_modified"):
            headers["If-Modified-Since"] = known["last_modified"]
        return headers

    def remember(self, ctx, url: str, page: ListPage | None = None) -> None:
        """Keep the answer's validators (and what a list page held) to save after its items."""
        headers = ctx.http_response.headers
        found = {"etag": headers.get("etag"), "last_modified": headers.get("last-modified")}
        answered: dict = {k: v for k, v in found.items() if v}
        if not answered:
            return
        if page is not None:
            answered["page"] = {**page.state(), "read_with": _read_with(self.source(ctx))}
        self.outcome(ctx).validators[url] = answered

    async def read_list_page(self, ctx, parse: Callable[[str], ListPage]) -> ListPage | None:
        """The page's cards: parsed from a full answer (remembered with its validators), or the
        remembered ones when the server says "304 Not Modified". None (with an error) when a 304
        comes without anything remembered to stand in for it."""
        url, result = ctx.request.url, self.outcome(ctx)
        if ctx.http_response.status_code == 304:
            result.not_modified += 1
            stored = (self.validators.get(url) or {}).get("page")
            if stored is None:
                result.errors.append(f"{url}: 304 Not Modified to a request that asked nothing")
                return None
            return ListPage.from_state(stored)
        page = parse((await self.body(ctx)).decode(errors="replace"))
        self.remember(ctx, url, page)
        return page

    # -- incremental listing -------------------------------------------------------------------
    def known_run(self, ctx, listings: list[dict]) -> int:
        """How many list pages in a row, ending with this one, held only known cards (the count
        so far rides in the page request's ``user_data``); an empty page breaks the run."""
        if listings and all(self.card_known(listing) for listing in listings):
            return ctx.request.user_data.get("known_run", 0) + 1
        return 0

    def listing_known(self, ctx, run: int, where: str, not_read: Callable[[], int]) -> bool:
        """True when the source's listing need not be followed past ``where``: ``run`` known
        pages reached its ``stop_after_known_pages``, and this is not the daily full listing.
        Said on the outcome, with ``not_read()`` (list pages known to follow, at least 1)."""
        limit = getattr(self.source(ctx), "stop_after_known_pages", 0)
        if self.full_listing or not limit or run < limit:
            return False
        result = self.outcome(ctx)
        skipped = max(1, not_read())
        result.list_pages_not_read += skipped
        result.listing_known.append(
            f"listing known: stopped after {where} ({run} list pages in a row with no new, "
            f"changed or incomplete card); at least {skipped} list pages not read"
        )
        return True

    def remembered_pages_after(self, url: str, next_link: str | None, limit: int) -> int:
        """How many list pages follow ``url`` as the remembered pages (``validators``) chain
        them, at most ``limit``: what a stop leaves unread, as far as the last pass knew."""
        count, link = 0, next_link
        while link and count < limit:
            url = urljoin(url, link.strip())
            count += 1
            link = ((self.validators.get(url) or {}).get("page") or {}).get("next_link")
        return count

    # -- time budget ---------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.clock() - self.started

    def past_deadline(self) -> bool:
        return self.elapsed() > self.pass_timeout_seconds

    def stop_early(self, source_name: str, reason: str) -> None:
        """A budget cut this source short: said in its errors and in ``stopped_early``."""
        result = self.outcomes[source_name]
        result.stopped_early.append(reason)
        result.errors.append(reason)

    def not_requested(self, request) -> None:
        """The pass deadline passed before ``request`` went out: count it, and keep a card whose
        detail it was (incomplete, so the next pass opens it); ``finish`` says so per source."""
        name = request.user_data["source"]
        result = self.outcomes[name]
        result.not_requested += 1
        if request.user_data.get("role") == DETAIL:
            listing = dict(request.user_data["listing"])
            item = item_of(self.by_name[name], listing, hashed=request.user_data.get("card_hash"))
            item.hints["detail_error"] = "detail not read: pass deadline reached"
            result.items.append(item)


    def finish(self) -> None:
        for name, result in self.outcomes.items():
            if result.not_requested:
                self.stop_early(
                    name,
                    f"pass deadline of {self.pass_timeout_seconds:.0f} s reached: "
                    f"{result.not_requested} requests not made",
                )


def full_listing_due(now: datetime) -> bool:
    """Whether a pass at ``now`` reads every list page: the first pass of each Jakarta day (the
    window ending at midnight WIB), so edits deep in a listing wait at most a day."""
    return now.astimezone(FULL_LISTING_TZ).hour < FULL_LISTING_HOURS


def _read_with(source) -> str:
    """What a list page's remembered cards depend on besides the page: the source's entry and
    the parsers' version."""
    text = json.dumps([PARSERS_VERSION, source.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def base_url(source) -> str:
    return str(source.base_url).rstrip("/")


def item_of(
    source, listing: dict, caption=None, image_url=None, extra_hints=None, hashed=None
) -> ScrapedItem:
    """``hashed``: the card hash taken when the card was read; else taken from ``listing``."""
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
