"""Manual link validation, and the ``lomba admin`` / ``lomba storage`` commands as subprocesses."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from lomba_pipeline.catalog.ingestion.links import InvalidLink, canonical_link, submit_link
from lomba_pipeline.partitions import link_partition_key
from lomba_pipeline.settings import PROJECT_ROOT
from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.processes import lomba
from lomba_pipeline_tests.review.conftest import insert_record, poster_bytes

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("url", [
    "https://www.instagram.com/p/DSlsNe5E5iO/",
    "instagram.com/p/DSlsNe5E5iO",
    "https://m.instagram.com/p/DSlsNe5E5iO/?igsh=MWx2&utm_source=ig_web_copy_link",
    "https://www.instagram.com/reel/DSlsNe5E5iO/",
    "https://www.instagram.com/csrelatedcompetitions/p/DSlsNe5E5iO/",
])
def test_post_links_have_one_canonical_form(url):
    assert canonical_link(url).canonical == "https://www.instagram.com/p/DSlsNe5E5iO/"


@pytest.mark.parametrize("url, reason", [
    ("", "kosong"),
    ("https://www.instagram.com/infolomba.indonesia.id/", "bukan tautan satu postingan"),
    ("https://www.instagram.com/stories/lomba/123/", "bukan tautan satu postingan"),
    ("https://instagram.com.evil.example/p/DSlsNe5E5iO/", "bukan tautan Instagram"),
    ("javascript:alert(1)", "bukan tautan"),
    ("https://infolomba.id/info-icais-2026-2095", "bukan tautan Instagram"),
])
def test_other_links_are_refused_with_a_reason(url, reason):
    with pytest.raises(InvalidLink, match=reason):
        canonical_link(url)


def test_submitting_the_same_post_twice_keeps_one_row(postgres):
    with postgres.connection() as conn:
        first = submit_link(conn, "https://www.instagram.com/p/DSlsNe5E5iO/?x=1", submitted_by="rina")
        second = submit_link(conn, "instagram.com/reel/DSlsNe5E5iO", submitted_by="bos")
    assert first.created and not second.created and first.id == second.id
    assert first.partition_key == link_partition_key("https://www.instagram.com/p/DSlsNe5E5iO/")
    with postgres.cursor() as cur:
        cur.execute("SELECT canonical_url, partition_key, submitted_by, status FROM manual_links")
        assert cur.fetchall() == [{
            "canonical_url": "https://www.instagram.com/p/DSlsNe5E5iO/",
            "partition_key": first.partition_key, "submitted_by": "rina", "status": "new",
        }]


def test_create_user_reads_password_from_stdin_and_stores_argon2(postgres):
    out = lomba("admin", "create-user", "Sari", "--role", "admin", stdin="rahasia-panjang-1\n")
    assert out.returncode == 0, out.stderr
    assert "sari (admin)" in out.stdout
    with postgres.cursor() as cur:
        cur.execute("SELECT username, role, password_hash FROM admin_users")
        row = cur.fetchone()
    assert row["username"] == "sari" and row["role"] == "admin"
    assert row["password_hash"].startswith("$argon2id$") and "rahasia" not in row["password_hash"]
    short = lomba("admin", "create-user", "budi", stdin="pendek\n")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    bad_role = lomba("admin", "create-user", "budi", "--role", "root", stdin="x" * 12 + "\n")
    assert bad_role.returncode != 0


def test_storage_gc_command(postgres, settings):
    from lomba_pipeline.resources.object_store import object_store_from_settings

    store = object_store_from_settings(settings)  # the local store under LOMBA_HOME
    insert_record(postgres, store, poster=poster_bytes(301))
    orphan = store.put(poster_bytes(302), "image/png").key
    dry = lomba("storage", "gc", "--dry-run", "--grace-minutes", "0")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove {orphan}" in dry.stdout and store.exists(orphan)
    real = lomba("storage", "gc", "--grace-minutes", "0")
    assert real.returncode == 0, real.stderr
    assert f"removed {orphan}" in real.stdout and not store.exists(orphan)
    assert len(store.list("posters/")) == 1


def test_lomba_admin_serves_and_stops(postgres):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lomba_pipeline.cli", "admin", "--port", str(port)],
        cwd=PROJECT_ROOT, env=os.environ.copy(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        body = None
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = r.read()
                    break
            except OSError:
                time.sleep(0.3)
        assert body == b'{"status":"ok"}', proc.stdout.read() if proc.poll() is not None else ""
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM (exit by that signal)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_admin_commands_with_the_database_down_print_one_line():
    import os

    from lomba_pipeline_tests.conftest import free_port

    dead = f"postgresql://lomba:rahasia-db@127.0.0.1:{free_port()}/lomba?connect_timeout=2"
    env = {**os.environ, "LOMBA_DATABASE_URL": dead}
    for args, stdin in [(("admin", "create-user", "rina"), "rahasia-pengguna-1\n"),
                        (("admin", "disable-user", "rina"), None),
                        (("storage", "gc", "--dry-run"), None)]:
        out = lomba(*args, stdin=stdin, env=env)
        assert out.returncode == 1, args
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: the database is not reachable"), lines
        assert "rahasia" not in out.stderr + out.stdout  # neither password appears
