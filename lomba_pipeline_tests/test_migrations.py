"""Migrations: once each, in order, atomic per file, safe under concurrency."""

import shutil
import threading

import psycopg2
import pytest

from lomba_pipeline.db.migrations import MigrationError, apply_migrations, discover_migrations
from lomba_pipeline.settings import get_settings


def tables(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1")
        return [r[0] for r in cur.fetchall()]


def ledger(url):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT version, filename, applied_at FROM schema_migrations ORDER BY version")
        return cur.fetchall()


def test_project_migrations_apply_once(scratch_database):
    files = [m.filename for m in discover_migrations(get_settings().sql_dir)]
    assert apply_migrations(scratch_database, get_settings().sql_dir) == files
    before_tables, before_ledger = tables(scratch_database), ledger(scratch_database)
    for expected in (
        "raw_items",
        "images",
        "competitions",
        "extraction_attempts",
        "manual_links",
        "events",
    ):
        assert expected in before_tables
    assert apply_migrations(scratch_database, get_settings().sql_dir) == []
    assert tables(scratch_database) == before_tables
    assert ledger(scratch_database) == before_ledger


def test_concurrent_runners_do_not_collide(scratch_database):
    results, errors = [], []

    def run():
        try:
            results.append(apply_migrations(scratch_database, get_settings().sql_dir))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = [r for r in results if r]
    assert len(applied) == 1, "exactly one runner applies the files, the others find them done"
    assert len(ledger(scratch_database)) == len(discover_migrations(get_settings().sql_dir))


def test_broken_migration_names_file_and_leaves_no_partial_schema(scratch_database, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(get_settings().sql_dir, sql_dir)
    (sql_dir / "900_broken_thing.sql").write_text(
        "CREATE TABLE half_done (id int);\nALTER TABLE raw_items ADD COLUMN oops text;\n"
        "SELEC this is not sql;\n"
    )
    with pytest.raises(MigrationError, match="900_broken_thing.sql") as info:
        apply_migrations(scratch_database, sql_dir)
    assert info.value.filename == "900_broken_thing.sql"
    assert "half_done" not in tables(scratch_database)
    with psycopg2.connect(scratch_database) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name='raw_items'"
        )
        assert "oops" not in {r[0] for r in cur.fetchall()}
    # the good files before it are applied and recorded; the broken one is not
    assert [row[1] for row in ledger(scratch_database)] == [
        m.filename for m in discover_migrations(get_settings().sql_dir)
    ]


def test_edited_applied_migration_is_refused(scratch_database, tmp_path):
    sql_dir = tmp_path / "sql"
    shutil.copytree(get_settings().sql_dir, sql_dir)
    apply_migrations(scratch_database, sql_dir)
    first = sorted(sql_dir.glob("001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match=first.name):
        apply_migrations(scratch_database, sql_dir)


def test_bad_file_name_is_reported(tmp_path):
    (tmp_path / "create_things.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="create_things.sql"):
        discover_migrations(tmp_path)


def test_events_are_append_only(postgres):
    from lomba_pipeline.db.events import list_events, record_event

    with postgres.connection() as conn:
        record_event(conn, actor="tester", kind="test.created", subject="thing:1", data={"a": 1})
    with pytest.raises(psycopg2.Error, match="append-only"):
        with postgres.connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE events SET kind = 'tampered'")
    with postgres.connection() as conn:
        rows = list_events(conn, kind_prefix="test.")
    assert [(r["actor"], r["kind"], r["data"]) for r in rows] == [
        ("tester", "test.created", {"a": 1})
    ]


def test_ig_sessions_are_encrypted_at_rest(postgres, settings):
    from lomba_pipeline.db.ig_sessions import load_session, save_session
    from lomba_pipeline.secrets_box import SecretBox, secret_box_from_settings

    box = secret_box_from_settings(settings)
    with postgres.connection() as conn:
        save_session(
            conn, box, "ig_001", {"authorization_data": {"sessionid": "s3cr3t"}}, logged_in=True
        )
    with postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT encrypted_settings FROM ig_sessions")
        assert b"s3cr3t" not in bytes(cur.fetchone()[0])
        assert load_session(conn, box, "ig_001") == {"authorization_data": {"sessionid": "s3cr3t"}}
        other = SecretBox(__import__("cryptography.fernet").fernet.Fernet.generate_key().decode())
        with pytest.raises(ValueError, match="LOMBA_ENCRYPTION_KEY"):
            load_session(conn, other, "ig_001")


def test_more_threads_than_connections_wait_instead_of_failing(test_environment):
    """A burst of workers larger than the pool queues for connections (no 'pool exhausted')."""
    from concurrent.futures import ThreadPoolExecutor

    from lomba_pipeline.resources.postgres import PostgresResource

    pg = PostgresResource(database_url=test_environment["app_url"], max_connections=2)

    def slow_query(i):
        with pg.cursor() as cur:
            cur.execute("SELECT pg_sleep(0.05), %s AS i", (i,))
            return cur.fetchone()["i"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sorted(pool.map(slow_query, range(16))) == list(range(16))
