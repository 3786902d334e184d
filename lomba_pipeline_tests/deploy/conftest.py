"""Each deployment test module gets its own Dagster instance database on the session's Postgres
server: the topology's runs and materializations stay out of the other tests' instance."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from lomba_pipeline.resources.postgres import ensure_database
from lomba_pipeline.settings import get_settings
from lomba_pipeline_tests.conftest import _drop_database


@pytest.fixture(scope="module")
def deploy_settings(test_environment):
    """The session's settings with a fresh Dagster database (dropped after the module)."""
    name = f"dagster_deploy_{uuid.uuid4().hex[:10]}"
    url = ensure_database(test_environment["server_url"], name)
    settings = get_settings()
    yield dataclasses.replace(
        settings, database=dataclasses.replace(settings.database, dagster_url=url)
    )
    _drop_database(test_environment["server_url"], name)
