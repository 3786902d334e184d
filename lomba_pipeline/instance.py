"""The Dagster instance of this project: ``dagster.yaml`` on the project's Postgres.

``dagster.yaml`` at the project root is the one instance config; it reads its database URL from
``DAGSTER_PG_URL``. Locally ``DAGSTER_HOME`` is ``LOMBA_HOME/dagster`` holding a copy of it, and
the URL points at the embedded server's ``dagster`` database.
"""

from __future__ import annotations

import os
import shutil

from lomba_pipeline.resources.postgres import (
    resolve_app_database_url,
    resolve_dagster_database_url,
)
from lomba_pipeline.settings import PROJECT_ROOT, Settings


def dagster_environment(settings: Settings) -> dict[str, str]:
    """Environment variables that every Dagster process of this project needs.

    Also starts (or joins) the embedded Postgres server when no URL is configured, so the caller
    holds it for as long as it lives.
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_URL": resolve_dagster_database_url(settings),
        # children connect by URL and never start a second server
        "LOMBA_DATABASE_URL": resolve_app_database_url(settings),
        "LOMBA_HOME": str(settings.home),
    }


def apply_dagster_environment(settings: Settings) -> dict[str, str]:
    env = dagster_environment(settings)
    os.environ.update(env)
    return env
