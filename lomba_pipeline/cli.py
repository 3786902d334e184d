"""``lomba`` — the command line for people and for the Makefile.

Every command that touches the database applies pending migrations first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from lomba_pipeline.admin.cli import admin, storage
from lomba_pipeline.catalog.extraction import cli as extraction_cli
from lomba_pipeline.db.migrated import migrated_postgres
from lomba_pipeline.ig_ops.cli import COMMANDS as IG_COMMANDS
from lomba_pipeline.resources.postgres import postgres_from_settings, redact_url
from lomba_pipeline.settings import PROJECT_ROOT, get_settings


class _LombaGroup(click.Group):
    """Turns an unreachable database into one line and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        import psycopg2
        import sqlalchemy.exc

        try:
            return super().invoke(ctx)
        except (psycopg2.OperationalError, psycopg2.InterfaceError,
                sqlalchemy.exc.OperationalError) as exc:  # the app's or the Dagster instance's
            reason = (str(exc).strip().splitlines() or ["no reply"])[0]
            raise click.ClickException(
                f"the database is not reachable ({reason}); start it or check LOMBA_DATABASE_URL"
            ) from None


@click.group(
    cls=_LombaGroup, help="Indonesian competition catalog and Instagram operations on Dagster."
)
def main() -> None:
    pass


@main.group(help="Database commands.")
def db() -> None:
    pass


@db.command("migrate", help="Apply pending SQL migrations from sql/ (idempotent).")
def db_migrate() -> None:
    pg = postgres_from_settings(get_settings(), for_dagster=False)
    applied = pg.migrate()
    if applied:
        click.echo("applied: " + ", ".join(applied))
    else:
        click.echo("database is up to date")


@db.command("url", help="Print the database URL (password redacted unless --reveal).")
@click.option("--dagster", "which", flag_value="dagster", help="The Dagster instance database.")
@click.option("--app", "which", flag_value="app", default=True, help="The application database.")
@click.option("--reveal", is_flag=True, help="Print the password too.")
def db_url(which: str, reveal: bool) -> None:
    from lomba_pipeline.resources.postgres import (
        resolve_app_database_url,
        resolve_dagster_database_url,
    )

    settings = get_settings()
    if which == "dagster":
        url = resolve_dagster_database_url(settings)
    else:
        url = resolve_app_database_url(settings)
    click.echo(url if reveal else redact_url(url))


@main.command(
    "dev", help="Start the Dagster UI and daemon on 127.0.0.1 with this project's instance."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Dagster UI port (default LOMBA_DAGSTER_PORT or 3000).")
@click.option("--admin/--no-admin", default=True, show_default=True,
              help="Also serve the admin panel (LOMBA_ADMIN_HOST:LOMBA_ADMIN_PORT).")
def dev(host: str, port: int | None, admin: bool) -> None:
    from lomba_pipeline.instance import apply_dagster_environment

    settings = get_settings()
    migrated_postgres()
    env = apply_dagster_environment(settings)  # holds the embedded server for our lifetime
    port = port or settings.dagster_port
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]
    click.echo(f"Dagster UI: http://{host}:{port}  (instance {env['DAGSTER_HOME']})", err=True)
    # run from DAGSTER_HOME: dagster warns about a dagster.yaml in the current folder otherwise
    child = subprocess.Popen(
        cmd, cwd=env["DAGSTER_HOME"], env=os.environ.copy(), start_new_session=True
    )
    admin_child = None
    if admin:
        admin_child = subprocess.Popen(
            [sys.executable, "-m", "lomba_pipeline.cli", "admin"],
            cwd=PROJECT_ROOT, env=os.environ.copy(), start_new_session=True,
        )

    stop_requested: list[float] = []

    def request_stop(signum, _frame):
        # only signal here: waiting inside a handler can deadlock with the main loop's wait
        if not stop_requested:
            stop_requested.append(time.monotonic())
            _signal_group(child, signal.SIGTERM)
            if admin_child is not None:
                _signal_group(admin_child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while child.poll() is None:
        time.sleep(0.3)
        if stop_requested and time.monotonic() - stop_requested[0] > 20:
            _signal_group(child, signal.SIGKILL)
    # dagster dev's own children (webserver, daemon, code server) share its process group
    _signal_group(child, signal.SIGKILL)
    if admin_child is not None:
        _signal_group(admin_child, signal.SIGTERM)
        try:
            admin_child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(admin_child, signal.SIGKILL)
    sys.exit(0 if stop_requested else child.returncode)


def _signal_group(child: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass


@main.command("run", help="Run one full catalog pass for the latest 6-hour window, in-process.")
@click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Sources file (default LOMBA_SOURCES_FILE or config/sources.yaml).",
)
def run(sources_path: str | None) -> None:
    from lomba_pipeline.catalog.ingestion.commands import run_and_print

    run_and_print(sources_path)


def _add_domain_commands() -> None:
    from lomba_pipeline.catalog.ingestion.commands import demo_command, links

    main.add_command(demo_command)
    main.add_command(links)


_add_domain_commands()


# domain commands
extraction_cli.register(main)
main.add_command(admin)
main.add_command(storage)
for _command in IG_COMMANDS:
    main.add_command(_command)

if __name__ == "__main__":
    main()
