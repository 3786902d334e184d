"""Partition definitions shared by the domains.

Every time-based definition starts at the same recent ``PARTITIONS_START`` (mixed starts split
single-run backfills into odd chunks) and is anchored in Asia/Jakarta (WIB, UTC+7, no DST).
"""

from __future__ import annotations

import hashlib

import dagster as dg

TIMEZONE = "Asia/Jakarta"
PARTITIONS_START = "2026-11-01-00:00"
WINDOW_FORMAT = "%Y-%m-%d-%H:%M"

# The catalog scrape cadence: 00:00, 06:00, 12:00, 18:00 WIB.
six_hourly = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 */6 * * *",
    start=PARTITIONS_START,
    fmt=WINDOW_FORMAT,
    timezone=TIMEZONE,
)

# One Jakarta calendar day, for the nightly reports (21:00 WIB). end_offset=1: today's partition
# exists before midnight, so the 21:00 run can report the day that is ending.
daily_reports = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START[:10], timezone=TIMEZONE, end_offset=1
)

# The Instagram accounts this project operates (lanes A, B, C).
OPERATED_ACCOUNTS = [f"ig_{i:03d}" for i in range(1, 11)]
operated_accounts = dg.StaticPartitionsDefinition(OPERATED_ACCOUNTS)

# Instagram links people submit by hand. Keys are a short hash of the canonical URL: URLs may
# hold characters Dagster forbids or mishandles in keys; the URL itself lives in Postgres.
manual_links = dg.DynamicPartitionsDefinition(name="manual_links")


def link_partition_key(canonical_url: str) -> str:
    return hashlib.sha1(canonical_url.encode()).hexdigest()[:16]
