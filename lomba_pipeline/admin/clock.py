"""The admin panel's time source: wall time in production, a frozen clock in tests.

Session expiry, login delays and "today" (which records are still open) all read it, so a test
can move time forward instead of sleeping or depending on the date it runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from lomba_pipeline.partitions import TIMEZONE

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


def jakarta_today(clock: Clock) -> date:
    return clock().astimezone(ZoneInfo(TIMEZONE)).date()
