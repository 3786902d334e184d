"""Running the project as a person does, for tests: the ``lomba`` CLI as a subprocess, ``lomba
dev`` on a free port, and Debian's Chromium for Playwright."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager

from lomba_pipeline.settings import PROJECT_ROOT

# Without the background-networking flags Chromium keeps dialling outside hosts, which this
# network refuses; Playwright's own browser download is never used.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def lomba(*args, stdin=None, env=None, timeout=120) -> subprocess.CompletedProcess:
    """``lomba ARGS`` in a fresh process (the session's test databases via the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "lomba_pipeline.cli", *args], cwd=PROJECT_ROOT, input=stdin,
        capture_output=True, text=True, timeout=timeout, env=env or os.environ.copy(),
    )


def http_json(url: str, timeout: float = 2):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """One query to the Dagster UI's GraphQL endpoint on 127.0.0.1:PORT; its ``data``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


def dev_output(proc, tail: int = 3000) -> str:
    """The last ``tail`` characters ``lomba dev`` wrote (for a failing test's message)."""
    proc.output.seek(0)
    return proc.output.read().decode(errors="replace")[-tail:]


@contextmanager
def lomba_dev(port: int, env: dict | None = None, startup_seconds: float = 150,
              extra_args: tuple[str, ...] = ()):
    """``lomba dev --port PORT`` until the UI answers ``/server_info``; SIGTERM on exit (SIGKILL
    of the process group if it does not stop). Yields the process."""
    # output to a file, not a pipe: nobody reads a pipe while the test runs, and once its
    # buffer is full every process writing to it (run workers too) blocks
    output = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lomba_pipeline.cli", "dev", "--port", str(port), *extra_args],
        cwd=PROJECT_ROOT, env=env or os.environ.copy(), stdout=output,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    proc.output = output  # read by dev_output() in failure messages
    try:
        deadline = time.time() + startup_seconds
        while True:
            if proc.poll() is not None:
                raise AssertionError(dev_output(proc))
            if time.time() > deadline:
                raise AssertionError("the Dagster UI never answered /server_info")
            try:
                http_json(f"http://127.0.0.1:{port}/server_info")
                break
            except OSError:
                time.sleep(1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        output.close()
