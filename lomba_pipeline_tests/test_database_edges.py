"""The database on bad days: killed holders of the embedded server, a stopped server, URLs in logs."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lomba_pipeline.resources.postgres import HANDLE_LIST, redact_url
from lomba_pipeline_tests.processes import lomba


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://app:hunter2@db.example.test:5432/lomba", "hunter2"),
        ("postgresql://app@db.example.test/lomba?password=hunter2", "hunter2"),
        ("postgresql://app@db.example.test/lomba?sslmode=require&sslpassword=hunter2", "hunter2"),
        ("postgresql://app:p%40ss@db.example.test/lomba?password=other", "p%40ss"),
    ],
)
def test_redact_url_hides_every_password(url, secret):
    shown = redact_url(url)
    assert secret not in shown
    assert "other" not in shown
    assert "db.example.test" in shown  # still says where it points


def test_redact_url_keeps_harmless_parameters():
    assert redact_url("postgresql://app@/lomba?host=/run/pg") == "postgresql://app@/lomba?host=/run/pg"


def _hold_server(pg_dir: Path, then: str) -> subprocess.Popen:
    """A process that joins the embedded server, prints READY, then exits or kills itself."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        from lomba_pipeline.resources.postgres import start_embedded_server
        start_embedded_server({str(pg_dir)!r})
        print("READY", flush=True)
        if {then!r} == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        sys.stdin.readline()  # exit normally when told
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    return proc


def _server_running(pg_dir: Path) -> bool:
    import psutil

    pid_file = pg_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    return psutil.pid_exists(int(pid_file.read_text().split()[0]))


@pytest.fixture
def private_pg_dir(tmp_path):
    """A data directory of its own; a server left running by a failing test is stopped."""
    pg_dir = tmp_path / "pg"
    yield pg_dir
    if _server_running(pg_dir):
        os.kill(int((pg_dir / "postmaster.pid").read_text().split()[0]), signal.SIGTERM)


def test_embedded_server_forgets_killed_holders_and_stops_with_the_last_live_one(private_pg_dir):
    pg_dir = private_pg_dir
    killed = _hold_server(pg_dir, "kill")
    assert killed.wait(timeout=60) == -signal.SIGKILL
    assert killed.pid in json.loads((pg_dir / HANDLE_LIST).read_text())
    assert _server_running(pg_dir)  # the killed process could not stop it

    last = _hold_server(pg_dir, "exit")
    assert killed.pid not in json.loads((pg_dir / HANDLE_LIST).read_text())
    last.stdin.write("\n")
    last.stdin.flush()
    assert last.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while _server_running(pg_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _server_running(pg_dir), "the server outlived its last live user"
    assert json.loads((pg_dir / HANDLE_LIST).read_text()) == []


@pytest.mark.parametrize("command", [("run",), ("db", "migrate"), ("links", "add",
                                     "https://www.instagram.com/p/ABCdef123/")])
def test_commands_with_the_database_down_print_one_line_and_exit_1(tmp_path, command):
    env = os.environ.copy()
    env["LOMBA_DATABASE_URL"] = f"postgresql://postgres@/lomba?host={tmp_path}/no-server"
    result = lomba(*command, env=env)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "database is not reachable" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
