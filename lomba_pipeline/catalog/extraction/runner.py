"""Drain the extraction queue: every pending raw item through the chain, concurrently, each
record written to Postgres the moment it is finished (a crash loses only records in flight).

Items are claimed one at a time (``claims.py``), so any number of drains (the shards of one run
on several machines, or two overlapping runs) share the queue without taking the same item."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lomba_pipeline.catalog.extraction.chain import Extractor, Outcome, Poster
from lomba_pipeline.catalog.extraction.claims import (
    DEFAULT_LEASE_SECONDS,
    claim_next,
    count_ready,
    new_claimer,
    release_claims_of_dead_local_processes,
)
from lomba_pipeline.catalog.extraction.record import DATA_FIELDS, KEY_FIELDS
from lomba_pipeline.catalog.extraction.store import (
    ClaimLost,
    item_from_row,
    mark_extracted,
    write_outcome,
)
from lomba_pipeline.resources.ai import AiConfig, AiProviders, RetryPolicy, build_ai_providers

AI_PROVIDERS = ("zhipu", "mistral", "gemini")
REPORTED_FIELDS = ("title", "organizer", "start_date", "end_date", "event_start_date",
                   "categories", "levels", "fee_amount", "contact_phones", "registration_url",
                   "guidebook_url", "location", "is_competition")


@dataclass
class ExtractionSummary:
    mode: str = "rules"
    pending: int = 0
    extracted: int = 0
    skipped_complete: int = 0
    statuses: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)  # AI calls (HTTP attempts) per provider
    failed_calls: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)  # (provider, outcome) -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ocr_pages: int = 0
    cost_usd: float = 0.0
    left_for_review: int = 0  # unfinished items that used their last attempt in this run
    filled: Counter = field(default_factory=Counter)  # field -> records with it filled
    rules_disagree: Counter = field(default_factory=Counter)  # field -> AI/rules mismatches
    wall_seconds: float = 0.0
    busy: bool = False  # every ready item was claimed by another drain

    @property
    def ai_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def failures(self) -> int:
        return self.statuses.get("failed", 0)

    def fill_rate(self) -> dict[str, float]:
        n = self.extracted
        return {name: (self.filled[name] / n if n else 0.0) for name in REPORTED_FIELDS}

    def add(self, outcome: Outcome) -> None:
        self.extracted += 1
        self.statuses[outcome.status] += 1
        for a in outcome.attempts:
            self.outcomes[f"{a.provider}:{a.outcome}"] += 1
            if a.provider in AI_PROVIDERS:
                self.calls[a.provider] += 1
                if a.outcome != "ok":
                    self.failed_calls[a.provider] += 1
            self.prompt_tokens += a.prompt_tokens or 0
            self.completion_tokens += a.completion_tokens or 0
            self.ocr_pages += a.pages or 0
            self.cost_usd += a.cost_usd or 0.0
        for name in outcome.record.filled_fields():
            self.filled[name] += 1
        for name in outcome.mismatches:
            self.rules_disagree[name] += 1

    _COUNTERS = ("statuses", "calls", "failed_calls", "outcomes", "filled", "rules_disagree")
    _NUMBERS = ("pending", "extracted", "skipped_complete", "prompt_tokens", "completion_tokens",
                "ocr_pages", "cost_usd", "left_for_review")

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "wall_seconds": self.wall_seconds, "busy": self.busy,
                **{name: getattr(self, name) for name in self._NUMBERS},
                **{name: dict(getattr(self, name)) for name in self._COUNTERS}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExtractionSummary:
        summary = cls(mode=data["mode"], wall_seconds=data["wall_seconds"], busy=data["busy"],
                      **{name: data[name] for name in cls._NUMBERS})
        for name in cls._COUNTERS:
            setattr(summary, name, Counter(data[name]))
        return summary

    def merge(self, other: ExtractionSummary) -> None:
        """Add another shard's counts (mode, pending, wall time and busy are the run's own)."""
        for name in self._NUMBERS:
            if name != "pending":
                setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in self._COUNTERS:
            getattr(self, name).update(getattr(other, name))

    def markdown(self) -> str:
        lines = ["| field | filled | rate |", "|---|---:|---:|"]
        for name, rate in self.fill_rate().items():
            lines.append(f"| {name} | {self.filled[name]} | {rate:.0%} |")
        lines += ["", "| provider | calls | failed |", "|---|---:|---:|"]
        for provider in AI_PROVIDERS:
            lines.append(f"| {provider} | {self.calls[provider]} | {self.failed_calls[provider]} |")
        return "\n".join(lines)

    def metadata(self) -> dict[str, Any]:
        import dagster as dg

        return {
            "mode": self.mode,
            "pending": self.pending,
            "extracted": self.extracted,
            "skipped_complete": self.skipped_complete,
            "done": self.statuses.get("done", 0),
            "partial": self.statuses.get("partial", 0),
            "failed": self.failures,
            "ai_calls": self.ai_calls,
            "ai_calls_failed": sum(self.failed_calls.values()),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "ocr_pages": self.ocr_pages,
            "estimated_cost_usd": round(self.cost_usd, 6),
            "left_for_review_after_last_attempt": self.left_for_review,
            "wall_seconds": round(self.wall_seconds, 2),
            "skipped_busy": self.busy,
            "rules_disagree": sum(self.rules_disagree.values()),
            **{f"fill_rate/{k}": round(v, 3) for k, v in self.fill_rate().items()},
            "summary": dg.MetadataValue.md(self.markdown()),
        }

    def line(self) -> str:
        return (
            f"extraction ({self.mode}): {self.extracted} records "
            f"(done {self.statuses.get('done', 0)}, partial {self.statuses.get('partial', 0)}, "
            f"failed {self.failures}), {self.skipped_complete} complete skipped, "
            f"AI calls {self.ai_calls}, tokens {self.prompt_tokens}+{self.completion_tokens}, "
            f"OCR pages {self.ocr_pages}, ~${self.cost_usd:.4f}, {self.wall_seconds:.1f}s"
        )


def resolve_mode(requested: str, config: AiConfig) -> str:
    if requested != "auto":
        return requested
    has_key = config.zhipu_api_key or config.mistral_api_key or config.gemini_api_key
    return "chain" if has_key else "rules"


def run_extraction(
    postgres,
    extractor: Extractor,
    *,
    workers: int = 4,
    limit: int | None = None,
    log: logging.Logger | Any | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> ExtractionSummary:
    """Drain the queue in this process, as one shard (``lomba extract``, benches, tests).

    ``policy``: the attempt cap and retry delays; ``clock``: now (injected by tests).
    Another drain running at the same time (a scheduled run and `lomba run`, or the shards of
    a run on other machines) is safe: each item is claimed by one of them."""
    policy = policy or RetryPolicy()
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    as_of = clock()
    with postgres.connection() as conn:
        ready, claimed_elsewhere = count_ready(conn, policy, as_of, lease_seconds)
    summary = drain_shard(postgres, extractor, claimer=new_claimer("local"), workers=workers,
                          limit=limit, log=log, policy=policy, clock=clock,
                          lease_seconds=lease_seconds, as_of=as_of)
    summary.pending = min(ready, limit) if limit is not None else ready
    summary.busy = summary.extracted == 0 and ready > 0 and claimed_elsewhere == ready
    return summary


def drain_shard(
    postgres,
    extractor: Extractor,
    *,
    claimer: str,
    workers: int = 4,
    limit: int | None = None,
    log: logging.Logger | Any | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    report: Callable[[Any, ExtractionSummary], None] | None = None,
    as_of: dt.datetime | None = None,
) -> ExtractionSummary:
    """Claim items one at a time on ``workers`` threads until none is left (or ``limit`` were
    claimed); each record is written, with its claim released, as soon as it is done.

    ``report(conn, summary)`` is called in each record's write transaction with the running
    summary, so what a shard did survives the shard's machine. Readiness is judged ``as_of``
    the run's start (default: now), so an item this run left for a retry "at the next run" is
    not taken again by this one."""
    log = log or logging.getLogger("lomba.extract")
    policy = policy or RetryPolicy()
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    as_of = as_of or clock()
    summary = ExtractionSummary(mode=extractor.mode)
    started = time.monotonic()
    lock = threading.Lock()
    claims_left = [limit]
    # items this drain left queued for a retry: that retry belongs to a later run
    retry_later: set[int] = set()
    results: queue.Queue = queue.Queue()

    def claim_one() -> dict | None:
        with lock:
            if claims_left[0] is not None:
                if claims_left[0] <= 0:
                    return None
                claims_left[0] -= 1
        with postgres.connection() as conn:
            rows = claim_next(conn, claimer, 1, policy, as_of, lease_seconds,
                              skip=sorted(retry_later))
        return rows[0] if rows else None

    def handle(row: dict):
        if row["complete"]:
            # the dedup contract: a complete record is never sent to a provider again
            with postgres.connection() as conn:
                mark_extracted(conn, row["id"])
                with lock:
                    summary.skipped_complete += 1
                    if report:
                        report(conn, summary)
            return None
        item = item_from_row(row)
        outcome = extractor.extract(item)
        with postgres.connection() as conn:  # streamed: committed before the next one starts
            stored = write_outcome(conn, row, outcome, policy, clock(), claimer=claimer)
            last_try = stored == "partial" and outcome.status == "failed"
            with lock:
                if stored == "failed":
                    retry_later.add(row["id"])
                summary.add(outcome)
                summary.left_for_review += last_try
                if report:
                    report(conn, summary)
        return item, outcome, last_try

    def loop() -> None:
        while (row := claim_one()) is not None:
            try:
                results.put(("done", handle(row)))
            except ClaimLost as exc:
                results.put(("lost", exc))
            except Exception as exc:  # a bug or a DB error on one record: the rest go on
                results.put(("error", exc))

    with postgres.connection() as conn:
        freed = release_claims_of_dead_local_processes(conn)
    if freed:
        log.info(f"extract: {freed} item(s) claimed by a process of this host that is gone, "
                 "taken again")
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="extract") as pool:
        futures = [pool.submit(loop) for _ in range(max(1, workers))]
        while True:
            try:
                kind, value = results.get(timeout=0.2)
            except queue.Empty:
                if all(f.done() for f in futures) and results.empty():
                    break
                continue
            if kind == "done" and value is not None:
                _log_record(log, *value)
            elif kind == "lost":
                log.warning(f"extract: {value}; its record is left to that shard")
            elif kind == "error":
                with lock:
                    summary.statuses["failed"] += 1
                log.error(f"extract: record failed to store: {type(value).__name__}: {value}")
        for future in futures:
            if future.exception() is not None:  # claiming itself failed (database gone)
                exc = future.exception()
                log.error(f"extract: a worker thread stopped: {type(exc).__name__}: {exc}")
    summary.wall_seconds = time.monotonic() - started
    return summary


def _log_record(log, item, outcome: Outcome, last_try: bool) -> None:
    providers = ",".join(dict.fromkeys(a.provider for a in outcome.attempts))
    empty = outcome.record.empty_fields(KEY_FIELDS)
    message = (
        f"extract [{item.source}] raw_item {item.raw_item_id}: {outcome.status} via "
        f"{providers}; {len(outcome.record.filled_fields())}/{len(DATA_FIELDS)} fields"
        + (f"; empty {', '.join(empty)}" if empty else "")
        + (f"; error {outcome.error}" if outcome.error else "")
        + ("; last attempt used, left partial for review" if last_try else "")
        + (f"; rules disagree on {', '.join(outcome.mismatches)}"
           if outcome.mismatches else "")
        + " → competitions upserted"
    )
    (log.warning if outcome.error else log.info)(message)


def object_store_loader(object_store):
    def load(poster: Poster) -> bytes:
        if not poster.object_key:
            raise ValueError(f"image {poster.image_id} has no object key")
        return object_store.get(poster.object_key)

    return load


def build_extractor(
    config: AiConfig, mode: str, object_store=None, image_transfer: str = "auto",
    providers: AiProviders | None = None,
) -> Extractor:
    mode = resolve_mode(mode, config)
    if providers is None:
        providers = AiProviders() if mode == "rules" else build_ai_providers(
            config, None if mode == "chain" else mode
        )
    loader = object_store_loader(object_store) if object_store is not None else None
    return Extractor(mode, providers, loader, image_transfer)


def extract_pending(
    postgres, object_store, settings, log=None, mode: str | None = None,
    limit: int | None = None,
) -> ExtractionSummary:
    """What ``lomba run`` calls after ingestion: drain the queue with the configured providers."""
    from lomba_pipeline.resources.ai import ai_config_from_settings

    config = ai_config_from_settings(settings.ai)
    extractor = build_extractor(
        config, mode or settings.extraction.provider, object_store, settings.ai.image_transfer
    )
    policy = RetryPolicy(settings.extraction.max_attempts, settings.extraction.retry_delays_hours)
    summary = run_extraction(
        postgres, extractor, workers=config.concurrency, limit=limit, log=log, policy=policy
    )
    (log.info if log else print)(summary.line())
    return summary
