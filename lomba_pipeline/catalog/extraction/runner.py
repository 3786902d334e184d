"""Drain the extraction queue: every pending raw item through the chain, concurrently, each
record written to Postgres the moment it is finished (a crash loses only records in flight)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from lomba_pipeline.catalog.extraction.chain import Extractor, Outcome, Poster
from lomba_pipeline.catalog.extraction.record import DATA_FIELDS, KEY_FIELDS
from lomba_pipeline.catalog.extraction.store import (
    item_from_row,
    mark_extracted,
    pending_rows,
    write_outcome,
)
from lomba_pipeline.resources.ai import AiConfig, AiProviders, RetryPolicy, build_ai_providers

AI_PROVIDERS = ("zhipu", "mistral", "gemini")
EXTRACTION_LOCK = 0x6C6F6D6261  # pg advisory lock key: "lomba"
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
    busy: bool = False  # another run held the queue

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
) -> ExtractionSummary:
    """``policy``: the attempt cap and retry delays; ``clock``: now (injected by tests)."""
    log = log or logging.getLogger("lomba.extract")
    policy = policy or RetryPolicy()
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    summary = ExtractionSummary(mode=extractor.mode)
    # one drain at a time (a scheduled run and `lomba run` may overlap): a second one would pay
    # for the same provider calls. A session lock dies with its process, so a crash frees it.
    with postgres.connection() as lock_conn:
        with lock_conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (EXTRACTION_LOCK,))
            if not cur.fetchone()[0]:
                summary.busy = True
                log.warning("extract: another extraction run holds the queue; nothing done")
                return summary
        try:
            return _drain(postgres, extractor, summary, workers, limit, log, policy, clock)
        finally:
            with lock_conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (EXTRACTION_LOCK,))


def _drain(postgres, extractor, summary, workers, limit, log, policy, clock) -> ExtractionSummary:
    started = time.monotonic()
    with postgres.connection() as conn:
        rows = pending_rows(conn, limit, policy, clock())
    summary.pending = len(rows)
    todo = []
    for row in rows:
        if row["complete"]:
            # the dedup contract: a complete record is never sent to a provider again
            with postgres.connection() as conn:
                mark_extracted(conn, row["id"])
            summary.skipped_complete += 1
        else:
            todo.append(row)

    def work(row):
        item = item_from_row(row)
        outcome = extractor.extract(item)
        with postgres.connection() as conn:  # streamed: committed before the next one starts
            stored = write_outcome(conn, row, outcome, policy, clock())
        return item, outcome, stored

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="extract") as pool:
        futures = [pool.submit(work, row) for row in todo]
        for future in as_completed(futures):
            try:
                item, outcome, stored = future.result()
            except Exception as exc:  # a bug or a DB error on one record: the rest go on
                summary.statuses["failed"] += 1
                log.error(f"extract: record failed to store: {type(exc).__name__}: {exc}")
                continue
            summary.add(outcome)
            last_try = stored == "partial" and outcome.status == "failed"
            summary.left_for_review += last_try
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
    summary.wall_seconds = time.monotonic() - started
    return summary


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
