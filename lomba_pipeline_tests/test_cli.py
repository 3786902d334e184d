"""The ``lomba`` command line, run as a real subprocess like a person would."""

import json
import os
import signal
import time
import urllib.request

from lomba_pipeline_tests.conftest import free_port
from lomba_pipeline_tests.processes import http_json, lomba, lomba_dev


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
    env = {**os.environ, "LOMBA_ADMIN_PORT": str(admin_port)}
    with lomba_dev(port, env) as proc:
        assert "dagster_webserver_version" in http_json(f"http://127.0.0.1:{port}/server_info")
        # the code location loaded in the UI's code server, not just the webserver
        assert location_status(port, time.time() + 120) == "RepositoryLocation"
        # the admin panel runs next to the UI
        admin_health = None
        deadline = time.time() + 60
        while time.time() < deadline and admin_health is None:
            try:
                admin_health = http_json(f"http://127.0.0.1:{admin_port}/health")
            except OSError:
                time.sleep(0.5)
        assert admin_health == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    # nothing keeps listening after shutdown
    for url in (f"http://127.0.0.1:{port}/server_info", f"http://127.0.0.1:{admin_port}/health"):
        try:
            http_json(url)
            still_up = True
        except OSError:
            still_up = False
        assert not still_up, url
