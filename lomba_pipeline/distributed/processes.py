"""The command line of each process of the topology, one function each.

The same argv lists are used by ``python -m lomba_pipeline.distributed.local`` (all of them on one
machine), by the tests, and (spelled out) in deploy/README.md and the Helm values, so what the
tests start is what an operator starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lomba_pipeline.settings import PROJECT_ROOT

WORKSPACE_FILE = PROJECT_ROOT / "deploy" / "workspace.yaml"
CELERY_CONFIG_FILE = PROJECT_ROOT / "deploy" / "celery.yaml"
CODE_LOCATION_MODULE = "lomba_pipeline.definitions"
# the same code location with every step sent to the Celery workers
CELERY_CODE_LOCATION_MODULE = "lomba_pipeline.distributed.definitions"
LOCATION_NAME = "lomba_pipeline"
# a worker listens on these; Instagram steps carry the tag dagster-celery/queue=instagram so only
# the machines whose IP the accounts know (started with --queue instagram) take them
DEFAULT_QUEUE = "dagster"
INSTAGRAM_QUEUE = "instagram"


def python_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def code_server(port: int, host: str = "127.0.0.1",
                module: str = CODE_LOCATION_MODULE) -> list[str]:
    return python_argv("dagster", "api", "grpc", "-m", module, "-h", host, "-p", str(port),
                   "--location-name", LOCATION_NAME)


def webserver(port: int, host: str = "127.0.0.1",
              workspace: Path = WORKSPACE_FILE) -> list[str]:
    return python_argv("dagster_webserver", "-w", str(workspace), "-h", host, "-p", str(port))


def daemon(workspace: Path = WORKSPACE_FILE) -> list[str]:
    return python_argv("dagster._daemon", "run", "-w", str(workspace))


def celery_worker(name: str, queues: tuple[str, ...] = (DEFAULT_QUEUE,),
                  config_file: Path = CELERY_CONFIG_FILE, concurrency: int = 1) -> list[str]:
    """``dagster-celery worker start``: one per machine; ``concurrency`` steps at a time."""
    # one comma-separated -q: dagster-celery turns each -q into a celery -Q, and celery keeps
    # only the last -Q it is given (a worker asked for "dagster" and "instagram" served only
    # "instagram" until this)
    queue_args = ["-q", ",".join(queues)]
    return python_argv("dagster_celery.cli", "worker", "start", "-A", "dagster_celery.app",
                   "-y", str(config_file), "-n", name, *queue_args,
                   "--", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle")


def redis_server(port: int, data_dir: Path) -> list[str]:
    """Debian's redis-server as the Celery broker, on loopback, appending to disk so queued
    steps survive a broker restart."""
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
            "--appendonly", "yes", "--save", "", "--protected-mode", "yes"]


def process_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, with the interpreter's bin folder on PATH
    (``dagster-celery worker start`` runs ``celery`` by name)."""
    env = {**os.environ, **extra}
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env
