"""The Dagster instance of this project: ``dagster.yaml`` on the project's Postgres.

``dagster.yaml`` at the project root is the single-machine instance config (``lomba dev``,
``lomba run``); ``deploy/dagster.yaml`` is the one for the multi-machine topology (compute logs in
R2, runs that wait for a restarting code server). Both read the database URL from
``DAGSTER_PG_URL``. ``DAGSTER_HOME`` holds a copy of the chosen file, and the URL points at the
configured server or the embedded server's ``dagster`` database.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lomba_pipeline.resources.postgres import (
    resolve_app_database_url,
    resolve_dagster_database_url,
)
from lomba_pipeline.settings import PROJECT_ROOT, Settings

SINGLE_MACHINE_INSTANCE = PROJECT_ROOT / "dagster.yaml"
TOPOLOGY_INSTANCE = PROJECT_ROOT / "deploy" / "dagster.yaml"


def dagster_environment(
    settings: Settings,
    instance_file: Path = SINGLE_MACHINE_INSTANCE,
    home: Path | None = None,
) -> dict[str, str]:
    """Environment variables that every Dagster process of this project needs.

    Also starts (or joins) the embedded Postgres server when no URL is configured, so the caller
    holds it for as long as it lives.
    """
    home = home or settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(instance_file, home / "dagster.yaml")
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": resolve_dagster_database_url(settings),
        # children connect by URL and never start a second server
        "LOMBA_DATABASE_URL": resolve_app_database_url(settings),
        "LOMBA_HOME": str(settings.home),
    }


def topology_environment(settings: Settings, home: Path | None = None) -> dict[str, str]:
    """The environment of the webserver, daemon, code server and Celery workers of the
    multi-machine topology (``deploy/dagster.yaml``).

    The S3 compute log manager reads its credentials the way boto3 does (``AWS_*``); they are the
    R2 credentials already configured for the media bucket, so one key pair serves both.
    """
    env = dagster_environment(
        settings, TOPOLOGY_INSTANCE, home or settings.home / "dagster-topology"
    )
    if settings.media.r2 is not None:
        env.update(
            {
                "AWS_ACCESS_KEY_ID": settings.media.r2.access_key_id,
                "AWS_SECRET_ACCESS_KEY": settings.media.r2.secret_access_key,
                # R2 names its one region "auto"
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "auto"),
            }
        )
    return env


def apply_dagster_environment(settings: Settings) -> dict[str, str]:
    env = dagster_environment(settings)
    os.environ.update(env)
    return env
