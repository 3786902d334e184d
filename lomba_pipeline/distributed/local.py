"""The whole topology on one machine, each part its own process (``make topology``):

redis-server, a gRPC code server serving the Celery code location, the webserver, the daemon and
N ``dagster-celery`` workers (the first one also serves the ``instagram`` queue). The same
commands, one per machine, make the multi-machine deployment (deploy/README.md).

    python -m lomba_pipeline.distributed.local [--web-port 3000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from lomba_pipeline.db.migrated import migrated_postgres
from lomba_pipeline.distributed import processes
from lomba_pipeline.instance import TOPOLOGY_INSTANCE, dagster_environment, topology_environment
from lomba_pipeline.settings import PROJECT_ROOT, get_settings


def one_machine_instance(target: Path) -> Path:
    """deploy/dagster.yaml without the R2 compute log manager: on one machine every process
    reads the same disk, so the local default is right."""
    config = yaml.safe_load(TOPOLOGY_INSTANCE.read_text())
    config.pop("compute_logs", None)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-port", type=int, default=3000)
    parser.add_argument("--code-port", type=int, default=4266)
    parser.add_argument("--redis-port", type=int, default=6379)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    settings = get_settings()
    migrated_postgres()
    home = settings.home / "dagster-topology"
    if settings.media.r2 is not None and os.environ.get("LOMBA_COMPUTE_LOG_BUCKET"):
        env = topology_environment(settings, home)
        print("compute logs: R2 bucket " + os.environ["LOMBA_COMPUTE_LOG_BUCKET"], file=sys.stderr)
    else:
        instance = one_machine_instance(Path(tempfile.mkdtemp()) / "dagster.yaml")
        env = dagster_environment(settings, instance, home)
        print("compute logs: this machine's disk (set R2 and LOMBA_COMPUTE_LOG_BUCKET for R2)",
              file=sys.stderr)
    redis_dir = settings.home / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    env = processes.process_environment({
        **env,
        "LOMBA_CODE_SERVER_HOST": "127.0.0.1",
        "LOMBA_CODE_SERVER_PORT": str(args.code_port),
        "LOMBA_CELERY_BROKER_URL": os.environ.get(
            "LOMBA_CELERY_BROKER_URL", f"redis://127.0.0.1:{args.redis_port}/0"),
        "LOMBA_CELERY_RESULT_BACKEND": os.environ.get(
            "LOMBA_CELERY_RESULT_BACKEND", f"redis://127.0.0.1:{args.redis_port}/1"),
    })
    dagster_home = Path(env["DAGSTER_HOME"])
    commands = [
        ("redis", processes.redis_server(args.redis_port, redis_dir), redis_dir),
        ("code-server", processes.code_server(
            args.code_port, module=processes.CELERY_CODE_LOCATION_MODULE), PROJECT_ROOT),
        ("webserver", processes.webserver(args.web_port), dagster_home),
        ("daemon", processes.daemon(), dagster_home),
    ]
    for i in range(1, args.workers + 1):
        queues = (processes.DEFAULT_QUEUE, processes.INSTAGRAM_QUEUE) if i == 1 else (
            processes.DEFAULT_QUEUE,)
        commands.append((f"worker-{i}", processes.celery_worker(f"worker{i}", queues),
                         PROJECT_ROOT))

    children: list[tuple[str, subprocess.Popen]] = []
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    try:
        for name, argv, cwd in commands:
            print(f"starting {name}: {' '.join(argv)}", file=sys.stderr)
            child = subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=True)
            children.append((name, child))
            if name == "code-server":
                # the webserver and daemon load the location once at start: let it listen first
                _wait_for_port(args.code_port, child)
        print(f"Dagster UI: http://127.0.0.1:{args.web_port}", file=sys.stderr)
        while not stopping:
            for name, child in children:
                if child.poll() is not None:
                    print(f"{name} exited with {child.returncode}; stopping the rest",
                          file=sys.stderr)
                    stopping.append(True)
            time.sleep(0.5)
    finally:
        # the embedded Postgres stops when this process exits: stop every child first
        for _, child in reversed(children):
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, child in reversed(children):
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(child, signal.SIGKILL)


def _wait_for_port(port: int, child: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    main()
