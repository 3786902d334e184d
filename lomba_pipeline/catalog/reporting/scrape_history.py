"""What the scrapes found, read back from their materializations in the Dagster instance.

``web_listings`` and ``ig_profile_posts`` record a ``source_reports`` JSON list per run; manual
links record their URL. The database keeps items, not the passes that saw them again, so the
instance is where "found 40 items, 0 new" lives.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg

SCRAPE_ASSETS = ("web_listings", "ig_profile_posts", "manual_link_posts")


@dataclass
class SourceDay:
    kind: str
    name: str
    runs: int = 0
    found: int = 0
    new: int = 0
    errors: list[str] = field(default_factory=list)


def source_days(instance: dg.DagsterInstance, start: datetime, end: datetime) -> dict[str, SourceDay]:
    """Per source (``"Web infolomba"``), what its scrapes between ``start`` and ``end`` found."""
    days: dict[str, SourceDay] = {}
    for asset in SCRAPE_ASSETS:
        for record in _materializations(instance, asset, start, end):
            meta = record.asset_materialization.metadata if record.asset_materialization else {}
            for report in _reports(asset, meta):
                key = f"{report['kind']} {report['name']}"
                day = days.setdefault(key, SourceDay(report["kind"], report["name"]))
                day.runs += 1
                day.found += int(report.get("found", 0))
                day.new += int(report.get("new", 0))
                day.errors.extend(report.get("errors") or [])
    return days


def yielding_days(instance: dg.DagsterInstance, windows: list[tuple[datetime, datetime]]) -> dict[str, int]:
    """For each source, on how many of the given days it found at least one item."""
    counts: dict[str, int] = defaultdict(int)
    for start, end in windows:
        for key, day in source_days(instance, start, end).items():
            counts[key] += day.found > 0
    return dict(counts)


def _materializations(instance, asset: str, start: datetime, end: datetime):
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(asset),
                after_timestamp=start.timestamp(),
                before_timestamp=end.timestamp(),
            ),
            limit=500,
            cursor=cursor,
        )
        yield from result.records
        if not result.has_more:
            return
        cursor = result.cursor


def _reports(asset: str, meta: dict) -> list[dict]:
    if "source_reports" in meta:
        return list(meta["source_reports"].value or [])
    if asset == "manual_link_posts":
        found = meta["found"].value if "found" in meta else 1
        new = meta["new"].value if "new" in meta else 0
        return [{"kind": "Manual", "name": "manual links", "found": found, "new": new}]
    return []
