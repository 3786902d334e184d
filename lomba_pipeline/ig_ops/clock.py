"""The time source of the lanes, injectable so tests can simulate a day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from lomba_pipeline.partitions import TIMEZONE

JAKARTA = ZoneInfo(TIMEZONE)


class IgClock(dg.ConfigurableResource):
    """Wall-clock time, or a fixed instant (ISO 8601 with offset) for simulations and tests."""

    frozen_at: str | None = None

    def now(self) -> datetime:
        if self.frozen_at:
            return datetime.fromisoformat(self.frozen_at).astimezone(UTC)
        return datetime.now(UTC)

    def today(self) -> date:
        """The calendar day in Asia/Jakarta."""
        return self.now().astimezone(JAKARTA).date()


def jakarta_day(moment: datetime) -> date:
    return moment.astimezone(JAKARTA).date()
