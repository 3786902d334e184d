"""``lomba accounts|spec|approvals|ig`` commands."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path

import click

from lomba_pipeline.settings import get_settings


def _pg():
    from lomba_pipeline.db.migrated import migrated_postgres

    return migrated_postgres()


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@click.group(help="Operated Instagram accounts.")
def accounts() -> None:
    pass


@accounts.command(
    "import", help="Import config/accounts.yaml (secrets read from the env vars it names)."
)
@click.option("--file", "path", type=click.Path(path_type=Path), default=None)
def accounts_import(path: Path | None) -> None:
    from lomba_pipeline.ig_ops.accounts import AccountsConfigError, import_accounts
    from lomba_pipeline.secrets_box import secret_box_from_settings

    settings = get_settings()
    path = path or settings.config_dir / "accounts.yaml"
    try:
        with _pg().connection() as conn:
            report = import_accounts(conn, secret_box_from_settings(settings), path, actor=_actor())
    except AccountsConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    for row in report:
        missing = f"  (env not set: {', '.join(row['missing'])})" if row["missing"] else ""
        click.echo(f"{row['account']}: secrets {', '.join(row['secrets']) or 'none'}{missing}")
    # posts read content from the object store, not from these folders
    click.echo("next: `lomba accounts sync-content` uploads the content folders")


@accounts.command(
    "sync-content",
    help="Upload each operated account's content folder (DIR/<account id>, or the account's "
    "content_dir from accounts.yaml) to the object store; unchanged files are skipped, files "
    "removed from a folder are removed from the store and listed.",
)
@click.argument("content_root", metavar="DIR", required=False,
                type=click.Path(path_type=Path, file_okay=False))
def accounts_sync_content(content_root: Path | None) -> None:
    from lomba_pipeline.db.events import record_event
    from lomba_pipeline.ig_ops.accounts import list_accounts
    from lomba_pipeline.ig_ops.content import ContentError
    from lomba_pipeline.ig_ops.content_store import sync_content
    from lomba_pipeline.resources.object_store import object_store_from_settings

    if content_root is not None and not content_root.is_dir():
        raise click.ClickException(f"{content_root}: not a folder")
    store = object_store_from_settings(get_settings(), for_dagster=False)
    pg = _pg()
    with pg.connection() as conn:
        accounts = list_accounts(conn)
    if not accounts:
        raise click.ClickException("no operated accounts: run `lomba accounts import` first")
    missing = []
    for account in accounts:
        folder = content_root / account.account_id if content_root else account.content_dir
        try:
            report = sync_content(store, account.account_id, folder)
        except ContentError as exc:
            missing.append(account.account_id)
            click.echo(f"{account.account_id}: skipped: {exc}", err=True)
            continue
        click.echo(report.line())
        for warning in report.warnings:
            click.echo(f"  warning: {warning}", err=True)
        with pg.connection() as conn:
            record_event(conn, actor=_actor(), kind="ig.content_synced",
                         subject=f"account:{account.account_id}",
                         data={"uploaded": len(report.uploaded), "unchanged": len(report.unchanged),
                               "removed": report.removed})
    if missing:
        raise click.ClickException(f"no content folder for: {', '.join(missing)}")


@accounts.command("list", help="Accounts with cooldown state.")
def accounts_list() -> None:
    from lomba_pipeline.ig_ops.clock import IgClock
    from lomba_pipeline.ig_ops.store import cooldown_status

    with _pg().connection() as conn:
        for row in cooldown_status(conn, IgClock().now()):
            state = (
                f"STOPPED ({row['stopped_reason']}): lomba accounts login {row['account_id']}"
                if row["stopped_reason"]
                else f"cooldown until {row['cooldown_until']:%Y-%m-%d %H:%M %Z}"
                if row["cooldown_until"]
                else "active"
            )
            click.echo(f"{row['account_id']}  {row['username']:<30} {state}")


@accounts.command("login", help="Log an account in again and store its session (encrypted).")
@click.argument("account_id")
def accounts_login(account_id: str) -> None:
    from lomba_pipeline.db.events import record_event
    from lomba_pipeline.ig_ops.accounts import AccountsConfigError, account_credentials, get_account
    from lomba_pipeline.resources.instagram_client import (
        ClientOptions,
        Credentials,
        InstagramSessions,
    )
    from lomba_pipeline.secrets_box import secret_box_from_settings

    settings = get_settings()
    pg = _pg()
    box = secret_box_from_settings(settings)
    try:
        with pg.connection() as conn:
            account = get_account(conn, account_id)
            creds = account_credentials(conn, box, account_id)
    except AccountsConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if not (creds.get("sessionid") or creds.get("password")):
        raise click.ClickException(
            f"{account_id}: no sessionid or password stored; set the env vars named in "
            "accounts.yaml and run `lomba accounts import`"
        )
    sessions = InstagramSessions(
        pg,
        box,
        ClientOptions(
            api_base_url=settings.instagram.api_base_url,
            request_delay_seconds=settings.instagram.request_delay_seconds,
        ),
    )
    try:
        client = sessions.login(
            account.username,
            Credentials(password=creds.get("password"), sessionid=creds.get("sessionid")),
        )
    except Exception as exc:
        raise click.ClickException(f"{account_id}: login failed: {type(exc).__name__}") from exc
    from lomba_pipeline.ig_ops.store import clear_stop

    with pg.connection() as conn:
        record_event(conn, actor=_actor(), kind="ig.login", subject=f"account:{account_id}")
        # a person solved the challenge and logged in: the account may work again
        resumed = clear_stop(conn, account_id, actor=_actor())
    click.echo(
        f"{account_id}: logged in as user {client.user_id}; session stored"
        + ("; account resumed" if resumed else "")
    )


@click.group(help="Versioned lane specs (rules, templates, thresholds).")
def spec() -> None:
    pass


@spec.command("apply", help="Store FILE as a new spec version and make it active.")
@click.argument("path", type=click.Path(path_type=Path))
def spec_apply(path: Path) -> None:
    from lomba_pipeline.ig_ops.spec import SpecError, apply_spec, load_spec_file

    try:
        parsed = load_spec_file(path)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from exc
    with _pg().connection() as conn:
        version = apply_spec(conn, parsed, actor=_actor(), source=str(path))
    click.echo(f"spec version {version} is active")


@spec.command("history", help="All versions, newest first.")
def spec_history_cmd() -> None:
    from lomba_pipeline.ig_ops.spec import spec_history

    with _pg().connection() as conn:
        rows = spec_history(conn)
    if not rows:
        click.echo("no spec applied yet (built-in defaults in force)")
    for r in rows:
        mark = "*" if r["active"] else " "
        click.echo(
            f"{mark} v{r['version']}  {r['created_at']:%Y-%m-%d %H:%M}  {r['created_by']}  {r['source'] or ''}"
        )


@spec.command("rollback", help="Make VERSION the active spec again.")
@click.argument("version", type=int)
def spec_rollback(version: int) -> None:
    from lomba_pipeline.ig_ops.spec import SpecError, rollback_spec

    try:
        with _pg().connection() as conn:
            rollback_spec(conn, version, actor=_actor())
    except SpecError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"spec version {version} is active")


@click.group(help="Actions waiting for a person.")
def approvals() -> None:
    pass


@approvals.command("list")
def approvals_list() -> None:
    from lomba_pipeline.ig_ops.store import list_pending_approvals

    with _pg().connection() as conn:
        rows = list_pending_approvals(conn)
    if not rows:
        click.echo("nothing waits for approval")
    for r in rows:
        click.echo(f"#{r['id']}  {r['account_id']}  {r['reason']:<18} {r['summary']}")


def _decide(approval_id: int, approved: bool) -> None:
    from lomba_pipeline.ig_ops.store import ApprovalError, decide_approval

    try:
        with _pg().connection() as conn:
            result = decide_approval(conn, approval_id, approved, _actor())
    except ApprovalError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"approval #{approval_id}: {result['status']}")


@approvals.command("approve")
@click.argument("approval_id", type=int)
def approvals_approve(approval_id: int) -> None:
    _decide(approval_id, True)


@approvals.command("reject")
@click.argument("approval_id", type=int)
def approvals_reject(approval_id: int) -> None:
    _decide(approval_id, False)


@click.group(help="Instagram operations.")
def ig() -> None:
    pass


@ig.command("report", help="Print the day's summary (default: today in Asia/Jakarta).")
@click.option("--day", default=None, help="YYYY-MM-DD")
def ig_report(day: str | None) -> None:
    from lomba_pipeline.ig_ops.clock import IgClock
    from lomba_pipeline.ig_ops.report_numbers import summary_text

    clock = IgClock()
    with _pg().connection() as conn:
        click.echo(
            summary_text(conn, date.fromisoformat(day) if day else clock.today(), clock.now())
        )


COMMANDS = [accounts, spec, approvals, ig]
