"""Ingestion steps as plain functions, shared by the Dagster assets and ``lomba run``.

Each step logs one line per item (source label, what was written) through ``log`` and returns a
``SourceReport`` whose counts become materialization metadata and the run summary table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from lomba_pipeline.catalog.sources.config import SourcesConfig
from lomba_pipeline.catalog.sources.items import (
    MAX_CAPTION_CHARS,
    SOURCE_LABELS,
    BadLink,
    ScrapedItem,
    checked_link,
)
from lomba_pipeline.catalog.sources.web_crawl import crawl_web
from lomba_pipeline.db import crawl_validators, raw_items
from lomba_pipeline.db import images as images_db
from lomba_pipeline.db.events import record_event, record_pipeline_event
from lomba_pipeline.db.manual_links import link_by_partition, mark_link
from lomba_pipeline.media.images import InvalidImage, inspect_image
from lomba_pipeline.partitions import TIMEZONE, WINDOW_FORMAT, six_hourly
from lomba_pipeline.resources.outbound import OutboundPolicy
from lomba_pipeline.resources.poster_fetch import PosterDownloadError

Log = Callable[[str], None]


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    key: str


def window_for_key(key: str) -> Window:
    tw = six_hourly.time_window_for_partition_key(key)
    return Window(tw.start, tw.end, key)


def latest_window_key(now: datetime | None = None) -> str:
    """Key of the most recent complete 6-hour window at ``now`` (what the schedule scrapes at
    its tick): the window ending at the last 00/06/12/18 WIB boundary."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(TIMEZONE))
    end = local.replace(hour=local.hour - local.hour % 6, minute=0, second=0, microsecond=0)
    return (end - timedelta(hours=6)).strftime(WINDOW_FORMAT)


def latest_window(now: datetime | None = None) -> Window:
    return window_for_key(latest_window_key(now))


@dataclass
class SourceReport:
    kind: str  # Web | IG | Manual
    name: str
    status: str = "ok"
    found: int = 0
    new: int = 0
    requeued: int = 0
    pending: int = 0
    complete: int = 0
    refreshed: int = 0  # known items whose changed card updated the stored text
    details_skipped: int = 0  # detail pages not fetched: known complete item, same card
    not_modified: int = 0  # feeds and list pages answered "304 Not Modified"
    stopped_early: list[str] = field(default_factory=list)  # budgets that cut the source short
    full_listing: bool = False  # the daily full listing: every list page read
    listing_known: list[str] = field(default_factory=list)  # stopped: the listing was known
    list_pages_not_read: int = 0  # list pages that stop left unread (at least)
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {
            "found": self.found,
            "new": self.new,
            "requeued": self.requeued,
            "already_pending": self.pending,
            "skipped_complete": self.complete,
            "refreshed": self.refreshed,
            "details_skipped": self.details_skipped,
            "not_modified": self.not_modified,
            "stopped_early": "; ".join(self.stopped_early),
            "full_listing": self.full_listing,
            "listing_known": "; ".join(self.listing_known),
            "list_pages_not_read": self.list_pages_not_read,
            "errors": len(self.errors),
        }


def _storable(report: SourceReport, items: list[ScrapedItem], log: Log) -> list[ScrapedItem]:
    """Items whose URL can be stored; one with a bad URL is skipped with its reason."""
    kept = []
    for item in items:
        try:
            checked_link(item.url)
            item.canonical_url  # noqa: B018  (raises on what urlsplit cannot read)
        except (BadLink, ValueError) as exc:
            error = f"item skipped, bad URL ({exc})"
            report.errors.append(error)
            log(f"[{SOURCE_LABELS[item.source_kind]}] {item.source_name}: {error}")
            continue
        kept.append(item)
    return kept


def store_and_log(postgres, report: SourceReport, items: list[ScrapedItem], window, log: Log):
    items = _storable(report, items, log)
    with postgres.connection() as conn:
        stored = raw_items.store_items(conn, items, window.start if window else None)
    report.found += len(items)
    for result in stored:
        if result.outcome == raw_items.NEW:
            report.new += 1
            verb = "insert"
        elif result.outcome == raw_items.REQUEUED:
            report.requeued += 1
            verb = "update needs_extraction=true"
        elif result.outcome == raw_items.PENDING:
            report.pending += 1
            verb = "no change"
        else:
            report.complete += 1
            verb = "no change"
        if result.refreshed:
            report.refreshed += 1
            verb += ", text refreshed from the changed card"
        item = result.item
        title = (item.title or item.caption or "")[:60].replace("\n", " ")
        cut = item.payload.get("caption_chars")
        note = f", caption cut to {MAX_CAPTION_CHARS} of {cut} chars" if cut else ""
        log(
            f"[{SOURCE_LABELS[item.source_kind]}] {item.source_name}: {title!r} "
            f"{item.canonical_url} → DB {verb} raw_items#{result.raw_item_id} "
            f"({result.outcome}{note})"
        )
    return stored


# -- web ---------------------------------------------------------------------------------------
def ingest_web(
    postgres,
    config: SourcesConfig,
    window: Window,
    log: Log,
    outbound: OutboundPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[SourceReport]:
    """Crawl the enabled web sources (every request under ``outbound``, strict by default;
    time budgets read on ``clock``)."""
    sources = config.enabled_web
    with postgres.connection() as conn:
        known = raw_items.skippable_details(conn, [s.name for s in sources])
        names = [s.name for s in sources]
        settled = raw_items.settled_sources(conn, "web", names)
        validators = crawl_validators.load_validators(conn, names, settled)
    outcomes = crawl_web(
        sources,
        config.crawl,
        now=window.end,
        outbound=outbound,
        known_details=known,
        validators=validators,
        clock=clock,
    )
    reports = []
    for source in sources:
        outcome = outcomes[source.name]
        report = SourceReport("Web", source.name, errors=list(outcome.errors))
        report.details_skipped = outcome.details_skipped
        report.not_modified = outcome.not_modified
        report.stopped_early = list(outcome.stopped_early)
        report.full_listing = outcome.full_listing
        report.listing_known = list(outcome.listing_known)
        report.list_pages_not_read = outcome.list_pages_not_read
        for reason in outcome.listing_known:
            log(f"[Web] {source.name}: {reason}")
        if outcome.details_skipped:
            log(
                f"[Web] {source.name}: {outcome.details_skipped} detail pages not fetched "
                "(known complete items, card unchanged)"
            )
        if outcome.unreachable:
            report.status = "unreachable"
            report.errors.insert(0, outcome.unreachable)
            log(f"[Web] {source.name}: unreachable ({outcome.unreachable})")
        store_and_log(postgres, report, outcome.items, window, log)
        if outcome.not_modified:
            log(
                f"[Web] {source.name}: {outcome.not_modified} feed/list pages not modified since "
                "the last pass (HTTP 304)"
            )
        for reason in outcome.stopped_early:
            log(f"[Web] {source.name}: stopped early: {reason}")
        with postgres.connection() as conn:  # after the items: a 304 must not hide unstored ones
            crawl_validators.save_validators(conn, source.name, outcome.validators)
        if not outcome.unreachable and report.errors:
            report.status = "ok with errors"
        for error in outcome.errors:  # each skipped card or refused link, with its reason
            log(f"[Web] {source.name}: error: {error}")
        reports.append(report)
    return reports


# -- Instagram profiles --------------------------------------------------------------------------
def ingest_ig_profile(postgres, gateway, profile: str, window: Window, log: Log) -> SourceReport:
    """Raises the gateway's ``InstagramUnavailable`` after recording a failure event."""
    from lomba_pipeline.resources.instagram import InstagramUnavailable

    with postgres.connection() as conn:
        known = raw_items.has_items_from(conn, "ig", profile)
    report = SourceReport("IG", profile)
    try:
        posts = gateway.recent_posts(profile, window.start, window.end, known_active=known)
    except InstagramUnavailable as exc:
        record_pipeline_event(
            postgres,
            kind="ingest.ig_profile_failed",
            subject=f"ig_profile:{profile}",
            data={"window": window.key, "error": str(exc)},
        )
        log(f"[IG] {profile}: FAILED for window {window.key}: {exc}")
        raise
    items = [
        ScrapedItem(
            source_kind="ig",
            source_name=profile,
            url=post.url,
            title=None,
            caption=post.caption,
            image_url=post.image_url,
            external_id=post.shortcode,
            posted_at=post.taken_at,
            payload=post.payload,
        )
        for post in posts
    ]
    store_and_log(postgres, report, items, window, log)
    if not posts:
        log(f"[IG] {profile}: no posts in window {window.key} (profile answered normally)")
    return report


# -- manual links ---------------------------------------------------------------------------------
def ingest_manual_link(postgres, gateway, partition_key: str, log: Log) -> SourceReport:
    with postgres.connection() as conn:
        link = link_by_partition(conn, partition_key)
    if link is None:
        raise LookupError(f"no manual link has partition key {partition_key!r}")
    report = SourceReport("Manual", link.canonical_url)
    shortcode = link.canonical_url.rstrip("/").rsplit("/", 1)[-1]
    try:
        post = gateway.post(shortcode)
    except Exception as exc:
        with postgres.connection() as conn:
            mark_link(conn, link.id, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
            record_event(
                conn,
                actor="pipeline",
                kind="ingest.manual_link_failed",
                subject=f"manual_link:{link.id}",
                data={"url": link.canonical_url, "error": str(exc)[:500]},
            )
        log(f"[Manual] {link.canonical_url}: FAILED: {exc}")
        raise
    item = ScrapedItem(
        source_kind="manual",
        source_name=post.username or "manual",
        url=link.canonical_url,
        caption=post.caption,
        image_url=post.image_url,
        external_id=post.shortcode,
        posted_at=post.taken_at,
        payload={**post.payload, "submitted_url": link.url},
    )
    stored = store_and_log(postgres, report, [item], None, log)
    with postgres.connection() as conn:
        mark_link(conn, link.id, "done", raw_item_id=stored[0].raw_item_id)
    return report


# -- posters ------------------------------------------------------------------------------------
@dataclass
class PosterReport:
    stored: int = 0
    uploaded: int = 0
    reused: int = 0
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {
            "posters_stored": self.stored,
            "objects_uploaded": self.uploaded,
            "objects_reused": self.reused,
            "poster_errors": len(self.errors),
        }


def store_posters(postgres, store, fetcher, log: Log, limit: int = 500, workers: int = 4):
    """Download, check and store every pending poster; a bad poster is an error on its item."""
    report = PosterReport()
    with postgres.connection() as conn:
        pending = images_db.pending_posters(conn, limit)

    def download(p):
        try:
            data = fetcher.fetch(p.image_url)
            return p, data, inspect_image(data, p.image_url), None
        except (PosterDownloadError, InvalidImage) as exc:
            return p, None, None, str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for p, data, info, error in pool.map(download, pending):
            label = SOURCE_LABELS[p.source_kind]
            if error:
                with postgres.connection() as conn:
                    images_db.record_image_error(conn, p.raw_item_id, error)
                report.errors.append(error)
                log(
                    f"[{label}] {p.source_name}: raw_items#{p.raw_item_id} poster rejected "
                    f"({error}) → DB raw_items.image_error set"
                )
                continue
            existed = store.exists(_key_for(store, data, info.content_type))
            stored = store.put(data, info.content_type, prefix="posters")
            with postgres.connection() as conn:
                image_id, created = images_db.record_image(conn, stored, info)
                images_db.attach_image(conn, p.raw_item_id, image_id)
            report.stored += 1
            report.reused += existed
            report.uploaded += not existed
            log(
                f"[{label}] {p.source_name}: raw_items#{p.raw_item_id} poster "
                f"{'already in store' if existed else 'uploaded'} {stored.key} → DB "
                f"images#{image_id} ({'new' if created else 'existing'}), raw_items.image_id set"
            )
    return report


def _key_for(store, data: bytes, content_type: str) -> str:
    from lomba_pipeline.resources.object_store import content_key

    return content_key(data, content_type, "posters")[0]
