"""Dagster definitions of the Instagram operations domain (lanes A, B, C)."""

from __future__ import annotations

import dagster as dg

from lomba_pipeline.ig_ops.automation import ig_reply_sensor, post_schedules
from lomba_pipeline.ig_ops.jobs import ig_post_job, ig_reply_job
from lomba_pipeline.ig_ops.report_asset import (
    all_accounts_posted,
    ig_nightly_report_schedule,
    ig_report_job,
    nightly_ig_report,
)
from lomba_pipeline.ig_ops.spec import LaneSpec, load_spec_file
from lomba_pipeline.settings import get_settings


def schedule_spec() -> LaneSpec:
    """Post time and stagger for the schedules: ``config/ig_spec.yaml`` when present.

    Cron strings are fixed when the code location loads; everything else in the spec (rules,
    templates, thresholds) is read from the active Postgres version at tick time. A broken file
    fails the load with the file and field named (SpecError): never silent defaults.
    """
    path = get_settings().config_dir / "ig_spec.yaml"
    return load_spec_file(path) if path.exists() else LaneSpec()


defs = dg.Definitions(
    assets=[nightly_ig_report],
    asset_checks=[all_accounts_posted],
    jobs=[ig_reply_job, ig_post_job, ig_report_job],
    sensors=[ig_reply_sensor],
    schedules=[*post_schedules(schedule_spec()), ig_nightly_report_schedule],
)
