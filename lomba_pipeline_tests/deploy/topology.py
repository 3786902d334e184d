"""The topology's processes for tests: each started with the argv an operator uses
(``lomba_pipeline.distributed.processes``), logs in files, stopped by process group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from lomba_pipeline.distributed import processes
from lomba_pipeline.settings import PROJECT_ROOT
from lomba_pipeline_tests.processes import graphql


class Process:
    """One long-lived process in its own session, its output in ``log``."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path, cwd: Path):
        self.name, self.argv, self.env, self.cwd = name, argv, env, cwd
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.orphan_groups: list[int] = []

    def start(self) -> Process:
        # a temp dir of its own, as on its own machine: the compute log manager stages logs
        # there, so the webserver cannot read a step's logs from the code server's disk
        tmp = self.log.parent / f"tmp-{self.name}"
        tmp.mkdir(exist_ok=True)
        self.env = {**self.env, "TMPDIR": str(tmp)}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def crash(self) -> None:
        """SIGKILL the main process only (a crash of the server, not of the machine): what it
        started lives on; the old group is remembered and killed on ``stop``."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.orphan_groups.append(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL the whole process group: a machine lost, not a polite shutdown."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self) -> None:
        for group in self.orphan_groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not self.alive():
            self.kill()  # reap children left in the group
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def tail(self, chars: int = 3000) -> str:
        try:
            return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return f"--- {self.name}: no log ---"


def wait_until(condition, seconds: float, what: str, *processes_to_watch: Process,
               interval: float = 0.5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for proc in processes_to_watch:
            assert proc.alive(), f"{proc.name} exited while waiting for {what}\n{proc.tail()}"
        value = condition()
        if value:
            return value
        time.sleep(interval)
    logs = "\n".join(p.tail() for p in processes_to_watch)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


LOCATION_STATUS = """{ workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def location_state(port: int) -> str | None:
    """``loaded`` / ``error`` / None (UI not answering) for the lomba_pipeline location."""
    try:
        data = graphql(port, LOCATION_STATUS)
    except OSError:
        return None
    for entry in data["workspaceOrError"].get("locationEntries", []):
        if entry["name"] == processes.LOCATION_NAME:
            kind = (entry["locationOrLoadError"] or {}).get("__typename")
            return {"RepositoryLocation": "loaded", "PythonError": "error"}.get(kind)
    return None


@contextmanager
def topology(env: dict, log_dir: Path, code_port: int, web_port: int,
             code_module: str = processes.CODE_LOCATION_MODULE):
    """Code server, webserver and daemon as three processes on loopback; yields them by name."""
    env = processes.process_environment(
        {**env, "LOMBA_CODE_SERVER_HOST": "127.0.0.1", "LOMBA_CODE_SERVER_PORT": str(code_port)}
    )
    home = Path(env["DAGSTER_HOME"])
    procs = {
        # the code server runs from the project (it imports it); the others from DAGSTER_HOME
        "code_server": Process("code_server", processes.code_server(code_port, module=code_module),
                               env, log_dir, PROJECT_ROOT),
        "webserver": Process("webserver", processes.webserver(web_port), env, log_dir, home),
        "daemon": Process("daemon", processes.daemon(), env, log_dir, home),
    }
    try:
        for proc in procs.values():
            proc.start()
        wait_until(lambda: location_state(web_port) == "loaded", 150,
                   "the webserver to load the code location from the code server",
                   *procs.values(), interval=1)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()
