"""One full catalog pass in-process (``lomba run`` / ``lomba demo``): web, IG, posters, extraction.

Every source gets a row in the summary; an unreachable site or a refusing Instagram is reported
there and the other sources still complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tabulate import tabulate

from lomba_pipeline.catalog.ingestion.service import (
    PosterReport,
    SourceReport,
    Window,
    ingest_ig_profile,
    ingest_web,
    store_posters,
)
from lomba_pipeline.catalog.sources.config import SourcesConfig
from lomba_pipeline.resources.instagram import (
    InstagramNotConfigured,
    InstagramReader,
    InstagramUnavailable,
)
from lomba_pipeline.resources.outbound import OutboundPolicy
from lomba_pipeline.resources.poster_fetch import PosterFetcher


@dataclass
class PassSummary:
    window: Window
    sources: list[SourceReport] = field(default_factory=list)
    posters: PosterReport = field(default_factory=PosterReport)
    extraction: str = "extraction: not run"

    @property
    def failed_sources(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status in {"unreachable", "failed"}]

    def table(self) -> str:
        rows = [
            [
                f"{s.kind} {s.name}",
                s.status,
                s.found,
                s.new,
                s.requeued,
                s.pending + s.complete,
                len(s.errors),
                (s.errors[0][:70] if s.errors else ""),
            ]
            for s in self.sources
        ]
        table = tabulate(
            rows,
            headers=[
                "source",
                "status",
                "found",
                "new",
                "re-queued",
                "known",
                "errors",
                "first error",
            ],
        )
        p = self.posters
        return (
            f"window {self.window.key} ({self.window.start:%Y-%m-%d %H:%M} – "
            f"{self.window.end:%H:%M} WIB)\n{table}\n"
            f"posters: {p.stored} stored ({p.uploaded} uploaded, {p.reused} already in store), "
            f"{len(p.errors)} rejected\n{self.extraction}"
        )


def run_catalog_pass(
    config: SourcesConfig,
    postgres,
    store,
    instagram: InstagramReader,
    window: Window,
    log: Callable[[str], None],
    extract: Callable | None = None,
    outbound: OutboundPolicy | None = None,
) -> PassSummary:
    outbound = outbound or OutboundPolicy()
    summary = PassSummary(window)
    summary.sources.extend(ingest_web(postgres, config, window, log, outbound))
    summary.sources.extend(_ingest_instagram(config, postgres, instagram, window, log))
    with PosterFetcher(outbound) as fetcher:
        summary.posters = store_posters(postgres, store, fetcher, log)
    if extract is not None:
        # each record is written the moment it is extracted (streaming, not batched)
        summary.extraction = extract(postgres, store).line()
    return summary


def _ingest_instagram(config, postgres, instagram, window, log) -> list[SourceReport]:
    profiles = config.instagram.profiles
    if not profiles:
        return []
    try:
        gateway = instagram.gateway(
            postgres,
            on_wait=lambda attempt, exc: log(
                f"[IG] attempt {attempt} refused ({type(exc).__name__}); waiting "
                f"{instagram.throttle_wait_seconds:g} s"
            ),
            max_posts=config.instagram.max_posts_per_profile,
        )
    except InstagramNotConfigured as exc:
        log(f"[IG] skipped: {exc}")
        return [SourceReport("IG", p, status="skipped", errors=[str(exc)]) for p in profiles]
    reports = []
    for profile in profiles:
        try:
            reports.append(ingest_ig_profile(postgres, gateway, profile, window, log))
        except InstagramNotConfigured as exc:
            log(f"[IG] {profile}: skipped: {exc}")
            reports.append(SourceReport("IG", profile, status="skipped", errors=[str(exc)]))
        except InstagramUnavailable as exc:
            reports.append(SourceReport("IG", profile, status="failed", errors=[str(exc)]))
        except Exception as exc:  # one profile's surprise must not hide the others
            log(f"[IG] {profile}: FAILED: {type(exc).__name__}: {exc}")
            reports.append(
                SourceReport(
                    "IG", profile, status="failed", errors=[f"{type(exc).__name__}: {exc}"]
                )
            )
    return reports
