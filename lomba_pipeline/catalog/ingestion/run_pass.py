"""One full catalog pass in-process (``lomba run`` / ``lomba demo``): the assets the UI runs.

The pass materializes the same software-defined assets a person launches in the Dagster UI, on
the project's Dagster instance, so the CLI and the UI share one code path and the runs appear in
the UI: ``web_listings`` for the window, ``ig_profile_posts`` per profile, then the unpartitioned
chain ``poster_images → extracted_fields → competitions → reviewed_competitions``. Every source
gets a row in the summary; an unreachable site or a refusing Instagram is reported there and the
other sources still complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
from tabulate import tabulate

from lomba_pipeline.catalog.extraction.assets import competitions, extracted_fields
from lomba_pipeline.catalog.ingestion.assets import ingestion_assets
from lomba_pipeline.catalog.ingestion.automation import ig_run_tags
from lomba_pipeline.catalog.ingestion.service import SourceReport, Window
from lomba_pipeline.catalog.review.assets import reviewed_competitions
from lomba_pipeline.partitions import six_hourly

CATALOG_CHAIN = ["poster_images", "extracted_fields", "competitions", "reviewed_competitions"]


@dataclass
class PassSummary:
    window: Window
    sources: list[SourceReport] = field(default_factory=list)
    posters: dict = field(default_factory=dict)  # poster_images' metadata (PosterReport's)
    extraction: str = "extraction: not run"
    failed_steps: list[str] = field(default_factory=list)  # "asset: first line of the error"

    @property
    def failed_sources(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status in {"unreachable", "failed"}]

    def table(self) -> str:
        rows = [
            [f"{s.kind} {s.name}", s.status, s.found, s.new, s.requeued, s.pending + s.complete,
             len(s.errors), (s.errors[0][:70] if s.errors else "")]
            for s in self.sources
        ]
        table = tabulate(
            rows,
            headers=["source", "status", "found", "new", "re-queued", "known", "errors",
                     "first error"],
        )
        p = self.posters
        return (
            f"window {self.window.key} ({self.window.start:%Y-%m-%d %H:%M} – "
            f"{self.window.end:%H:%M} WIB)\n{table}\n"
            f"posters: {p.get('posters_stored', 0)} stored ({p.get('objects_uploaded', 0)} "
            f"uploaded, {p.get('objects_reused', 0)} already in store), "
            f"{p.get('poster_errors', 0)} rejected\n{self.extraction}"
            + "".join(f"\nFAILED {step}" for step in self.failed_steps)
        )


def line_logger(log: Callable[[str], None]) -> dg.LoggerDefinition:
    """Dagster logger that prints the assets' own lines (one per record), not engine events."""

    class _Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            if meta.get("dagster_event") is None and record.levelno >= logging.INFO:
                log(meta.get("orig_message", record.getMessage()))

    @dg.logger(description="one line per message, for the lomba command")
    def lines(_init_context):
        logger = logging.Logger("lomba_run", level=logging.INFO)
        logger.addHandler(_Lines())
        return logger

    return lines


def pass_definitions(resources: dict, profiles: list[str], log) -> dg.Definitions:
    return dg.Definitions(
        assets=[*ingestion_assets(profiles), extracted_fields, competitions,
                reviewed_competitions],
        resources=resources,
        jobs=[
            dg.define_asset_job("lomba_run_web", selection=["web_listings"],
                                partitions_def=six_hourly),
            dg.define_asset_job("lomba_run_ig", selection=["ig_profile_posts"]),
            dg.define_asset_job("lomba_run_catalog", selection=CATALOG_CHAIN),
        ],
    )


def run_catalog_pass(
    resources: dict,
    profiles: list[str],
    window: Window,
    log: Callable[[str], None],
    instance: dg.DagsterInstance,
    *,
    web: bool = True,
) -> PassSummary:
    defs = pass_definitions(resources, profiles, log)
    loggers = {"console": line_logger(log)}

    def job(name: str) -> dg.JobDefinition:
        return defs.resolve_job_def(name).with_logger_defs(loggers)

    # loggers act only when named in the run config; otherwise Dagster's console logger prints
    run_config = {"loggers": {"console": {}}}
    summary = PassSummary(window)
    tags = {"lomba/source": "cli"}
    if web:
        result = job("lomba_run_web").execute_in_process(
            partition_key=window.key, instance=instance, raise_on_error=False, tags=tags,
            run_config=run_config,
        )
        summary.sources.extend(_source_reports(result, "web_listings", "Web", "web catalogs"))
    reason = resources["instagram"].not_configured_reason() if profiles else None
    if reason:  # as the 6-hourly schedule does: no run that can only fail
        log(f"[IG] skipped: {reason}")
        summary.sources.extend(
            SourceReport("IG", p, status="skipped", errors=[reason]) for p in profiles
        )
        profiles = []
    ig_job = job("lomba_run_ig") if profiles else None
    for profile in profiles:
        result = ig_job.execute_in_process(
            partition_key=dg.MultiPartitionKey({"window": window.key, "profile": profile}),
            instance=instance, raise_on_error=False, tags={**tags, **ig_run_tags(profile)},
            run_config=run_config,
        )
        summary.sources.extend(_source_reports(result, "ig_profile_posts", "IG", profile))
    result = job("lomba_run_catalog").execute_in_process(
        instance=instance, raise_on_error=False, tags=tags, run_config=run_config
    )
    summary.posters = _metadata(result, "poster_images")
    summary.failed_steps = _failed_steps(result, CATALOG_CHAIN)
    extraction = _metadata(result, "extracted_fields")
    summary.extraction = extraction.get("summary_line") or _failure(result, "extracted_fields") or (
        "extraction: not run"
    )
    return summary


def _metadata(result, asset: str) -> dict:
    for mat in result.asset_materializations_for_node(asset):
        return {k: v.value for k, v in mat.metadata.items()}
    return {}


def _failed_steps(result, nodes: list[str]) -> list[str]:
    """Each step that failed (with the first line of its error) or was skipped for it."""
    failed = []
    for node in nodes:
        message = _failure(result, node)
        if message:
            failed.append(f"{node}: {message.splitlines()[0][:200]}")
        elif not result.asset_materializations_for_node(node) and not result.success:
            failed.append(f"{node}: not run (an upstream step failed)")
    return failed


def _failure(result, node: str) -> str | None:
    for event in result.all_events:
        # a graph-backed asset's steps are "node.op" (extracted_fields.extract_shard[1_of_1])
        if event.is_step_failure and event.step_key.split(".")[0] == node:
            data = event.step_failure_data
            return data.error.message.strip() if data.error else "failed"
    return None


def _source_reports(result, asset: str, kind: str, name: str) -> list[SourceReport]:
    """The asset's per-source reports, from its materialization or its failure."""
    meta = _metadata(result, asset)
    if "source_reports" in meta:
        return [SourceReport(**r) for r in meta["source_reports"]]
    for event in result.all_events:
        if event.is_step_failure and event.step_key == asset:
            data = event.step_failure_data
            user = data.user_failure_data
            user_meta = {k: v.value for k, v in (user.metadata if user else {}).items()}
            if "source_reports" in user_meta:
                return [SourceReport(**r) for r in user_meta["source_reports"]]
            message = (user.description if user and user.description else
                       data.error.message if data.error else "failed").strip()
            return [SourceReport(kind, name, status=user_meta.get("source_status", "failed"),
                                 errors=[message])]
    return []
