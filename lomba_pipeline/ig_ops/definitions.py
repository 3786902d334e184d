"""Dagster definitions of the Instagram operations domain (lanes A, B, C)."""

from __future__ import annotations

import dagster as dg

from lomba_pipeline.ig_ops.automation import build_reply_sensor, ig_reply_sensor, post_schedules
from lomba_pipeline.ig_ops.jobs import build_post_job, build_reply_job, ig_post_job, ig_reply_job
from lomba_pipeline.ig_ops.post_times import spec_file, spec_in_force
from lomba_pipeline.ig_ops.report_asset import (
    all_accounts_posted,
    ig_nightly_report_schedule,
    ig_report_job,
    nightly_ig_report,
)


def defs_from_settings(settings, *, light_jobs_in_process: bool = True) -> dg.Definitions:
    """The domain's definitions; the morning schedules' crons come from the spec in force.

    ``<config dir>/ig_spec.yaml`` is always parsed, so a broken file fails the load with the
    file and field named (SpecError); the post times are the active spec version's in Postgres
    when there is one (what ``lomba spec apply|rollback`` chose), else the file's.
    ``light_jobs_in_process`` False leaves the reply and post jobs to the code location's
    executor (the multi-machine topology's Celery executor and its instagram queue).
    """
    in_file = spec_file(settings.config_dir)
    spec, source = spec_in_force(settings.database.url, in_file)
    if light_jobs_in_process:
        reply, post, sensor = ig_reply_job, ig_post_job, ig_reply_sensor
    else:
        reply, post = build_reply_job(), build_post_job()
        sensor = build_reply_sensor(reply, post)
    return dg.Definitions(
        assets=[nightly_ig_report],
        asset_checks=[all_accounts_posted],
        jobs=[reply, post, ig_report_job],
        sensors=[sensor],
        schedules=[*post_schedules(spec, source, post), ig_nightly_report_schedule],
    )
