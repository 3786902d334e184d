"""Forward-only SQL migrations from ``sql/NNN_name.sql``.

Each file is applied once, in numeric order, inside its own transaction, and recorded in
``schema_migrations``. A session-level advisory lock serialises concurrent runners (two processes
starting at once): the second waits, then finds nothing left to do. A failing file is rolled back
entirely and reported by name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2

# Arbitrary constant shared by every runner of this project ("lomba" in ASCII).
MIGRATION_LOCK_ID = 0x6C6F6D6261
MIGRATION_FILE = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """A migration file failed; the database is as it was before that file."""

    def __init__(self, filename: str, cause: Exception):
        super().__init__(f"migration {filename} failed: {cause}".strip())
        self.filename = filename


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover_migrations(sql_dir: Path) -> list[Migration]:
    sql_dir = Path(sql_dir)
    if not sql_dir.is_dir():
        raise FileNotFoundError(f"migrations directory not found: {sql_dir}")
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.iterdir()):
        if path.suffix != ".sql":
            continue
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise ValueError(f"bad migration file name {path.name!r}: expected NNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(
                f"two migrations share number {version}: {found[version].filename}, {path.name}"
            )
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    filename    text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def applied_versions(conn) -> dict[int, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT version, checksum FROM schema_migrations")
        return dict(cur.fetchall())


def apply_migrations(database_url: str, sql_dir: Path) -> list[str]:
    """Apply every pending migration; return the file names applied (empty when up to date)."""
    migrations = discover_migrations(sql_dir)
    conn = psycopg2.connect(database_url, application_name="lomba_migrate")
    applied_now: list[str] = []
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            conn.autocommit = False
            with conn.cursor() as cur:
                cur.execute(_CREATE_LEDGER)
            conn.commit()
            done = applied_versions(conn)
            conn.commit()
            for migration in migrations:
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            migration.filename,
                            RuntimeError(
                                "file changed after it was applied; add a new migration instead"
                            ),
                        )
                    continue
                try:
                    with conn.cursor() as cur:
                        cur.execute(migration.sql)
                        cur.execute(
                            "INSERT INTO schema_migrations (version, filename, checksum)"
                            " VALUES (%s, %s, %s)",
                            (migration.version, migration.filename, migration.checksum),
                        )
                    conn.commit()
                except psycopg2.Error as exc:
                    conn.rollback()
                    raise MigrationError(migration.filename, exc) from exc
                applied_now.append(migration.filename)
        finally:
            conn.rollback()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    finally:
        conn.close()
    return applied_now
