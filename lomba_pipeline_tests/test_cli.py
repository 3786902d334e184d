"""The ``lomba`` command line, run as a real subprocess like a person would."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from lomba_pipeline.settings import PROJECT_ROOT
from lomba_pipeline_tests.conftest import free_port


def lomba(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "lomba_pipeline.cli", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def test_db_migrate_is_idempotent():
    first = lomba("db", "migrate")
    assert first.returncode == 0, first.stderr
    second = lomba("db", "migrate")
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout


def test_db_url_redacts_password(monkeypatch):
    monkeypatch.setenv("LOMBA_DATABASE_URL", "postgresql://lomba:hunter2@db.example:5432/lomba")
    out = lomba("db", "url")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "postgresql://lomba:***@db.example:5432/lomba"


LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def location_status(port, deadline):
    while time.time() < deadline:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=json.dumps({"query": LOCATIONS}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            entries = json.load(r)["data"]["workspaceOrError"]["locationEntries"]
        entry = next(e for e in entries if e["name"] == "lomba_pipeline")
        if entry["loadStatus"] == "LOADED":
            result = entry["locationOrLoadError"]
            return result["__typename"] + result.get("message", "")
        time.sleep(1)
    return "still loading"


def test_dev_serves_dagster_ui_and_shuts_down_cleanly():
    port, admin_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lomba_pipeline.cli", "dev", "--port", str(port)],
        cwd=PROJECT_ROOT, env={**os.environ, "LOMBA_ADMIN_PORT": str(admin_port)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        info = None
        deadline = time.time() + 150
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
                    info = json.load(r)
                    break
            except OSError:
                time.sleep(1)
        assert info is not None, (
            proc.stdout.read().decode(errors="replace")[-3000:]
            if proc.poll() is not None
            else "UI never answered"
        )
        assert "dagster_webserver_version" in info
        # the code location loaded in the UI's code server, not just the webserver
        assert location_status(port, deadline) == "RepositoryLocation"
        # the admin panel runs next to the UI
        admin_health = None
        deadline = time.time() + 60
        while time.time() < deadline and admin_health is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/health", timeout=2) as r:
                    admin_health = json.load(r)
            except OSError:
                time.sleep(0.5)
        assert admin_health == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        # nothing keeps listening after shutdown
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
            still_up = True
        except OSError:
            still_up = False
        assert not still_up
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/health", timeout=2)
            admin_up = True
        except OSError:
            admin_up = False
        assert not admin_up
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
