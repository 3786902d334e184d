"""When each operated account's morning post is due (Asia/Jakarta): the spec's post time plus
the account's stagger. The active spec version in Postgres decides; the schedules' crons are
fixed when the code location loads, so they are built from the spec in force at that moment and
every tick checks the spec again (``lomba spec apply|rollback`` reloads the code location)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from lomba_pipeline.ig_ops.spec import LaneSpec, active_spec, load_spec_file
from lomba_pipeline.partitions import OPERATED_ACCOUNTS, TIMEZONE

log = logging.getLogger(__name__)
SPEC_FILE_NAME = "ig_spec.yaml"


def post_minute_of_day(account: str, spec: LaneSpec) -> int:
    position = OPERATED_ACCOUNTS.index(account)
    return (spec.post_hour * 60 + spec.post_minute + spec.stagger_minutes * position) % (24 * 60)


def post_cron(account: str, spec: LaneSpec) -> str:
    minutes = post_minute_of_day(account, spec)
    return f"{minutes % 60} {minutes // 60} * * *"


def post_time_text(account: str, spec: LaneSpec) -> str:
    minutes = post_minute_of_day(account, spec)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def is_post_time(account: str, spec: LaneSpec, moment: datetime) -> bool:
    local = moment.astimezone(ZoneInfo(TIMEZONE))
    return local.hour * 60 + local.minute == post_minute_of_day(account, spec)


def spec_file(config_dir: Path) -> LaneSpec | None:
    """``<config_dir>/ig_spec.yaml`` parsed; a broken file raises SpecError naming file and
    field (the code location then fails to load: never silent defaults)."""
    path = Path(config_dir) / SPEC_FILE_NAME
    return load_spec_file(path) if path.exists() else None


def spec_in_force(database_url: str | None, fallback: LaneSpec | None) -> tuple[LaneSpec, str]:
    """The spec whose post times are in force, and where it came from: the active version in
    Postgres; the spec file (or the defaults) when none was applied or the database is not
    reachable at load time (the schedules' ticks still check the active version)."""
    if database_url:
        import psycopg2

        try:
            conn = psycopg2.connect(database_url, connect_timeout=5)
            try:
                version, spec = active_spec(conn)
            finally:
                conn.close()
            if version is not None:
                return spec, f"spec v{version}"
        except psycopg2.Error as exc:  # undefined table included: not migrated yet
            log.warning("post times from the spec file: active spec not readable (%s)",
                        type(exc).__name__)
    if fallback is not None:
        return fallback, SPEC_FILE_NAME
    return LaneSpec(), "built-in defaults"
