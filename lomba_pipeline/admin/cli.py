"""``lomba admin`` (serve the panel), ``lomba admin create-user`` / ``disable-user``,
``lomba storage gc``."""

from __future__ import annotations

import sys

import click

# an unreachable database ends any of these commands in one line: `lomba`'s command group
from lomba_pipeline.db.migrated import migrated_postgres


def build_app_from_settings():
    from lomba_pipeline.admin.app import create_app
    from lomba_pipeline.resources.object_store import object_store_from_settings
    from lomba_pipeline.resources.whatsapp import whatsapp_from_settings
    from lomba_pipeline.settings import get_settings

    settings = get_settings()
    postgres = migrated_postgres()
    store = object_store_from_settings(settings)
    if settings.media.r2 is not None:
        # outside Dagster nothing resolves EnvVar: build the S3 resource from plain values
        from dagster_aws.s3 import S3Resource

        from lomba_pipeline.resources.object_store import R2ObjectStore

        store = R2ObjectStore(
            s3=S3Resource(
                endpoint_url=settings.media.r2.endpoint_url, region_name="auto",
                aws_access_key_id=settings.media.r2.access_key_id,
                aws_secret_access_key=settings.media.r2.secret_access_key,
            ),
            bucket=settings.media.r2.bucket, public_base_url=settings.media.r2.public_base_url,
        )
    whatsapp = whatsapp_from_settings(settings, for_dagster=False)
    return create_app(settings, postgres, store, whatsapp), settings


@click.group("admin", invoke_without_command=True,
             help="Serve the admin panel (review, links, events, catalog API).")
@click.option("--host", default=None, help="Default LOMBA_ADMIN_HOST (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Default LOMBA_ADMIN_PORT (8040).")
@click.pass_context
def admin(ctx: click.Context, host: str | None, port: int | None) -> None:
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    app, settings = build_app_from_settings()
    host = host or settings.admin.host
    port = port or settings.admin.port
    click.echo(f"Admin panel: http://{host}:{port}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


@admin.command("create-user", help="Create a user (or reset its password and role).")
@click.argument("username")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), default="reviewer",
              show_default=True)
def create_user_command(username: str, role: str) -> None:
    from lomba_pipeline.admin.auth import create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:  # piped: first line of stdin
        password = sys.stdin.readline().rstrip("\r\n")
    pg = migrated_postgres()
    try:
        with pg.connection() as conn:
            user = create_user(conn, username.strip().lower(), password, role)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"user {user.username} ({user.role}) saved")


@admin.command("disable-user", help="Disable a user; every session of that user ends at once.")
@click.argument("username")
def disable_user_command(username: str) -> None:
    from lomba_pipeline.admin.auth import disable_user

    with migrated_postgres().connection() as conn:
        found = disable_user(conn, username.strip().lower())
    if not found:
        raise click.ClickException(f"no user named {username!r}")
    click.echo(f"user {username} disabled; its sessions ended")


@click.group("storage", help="Object store maintenance.")
def storage() -> None:
    pass


@storage.command("gc", help="List and remove objects and image rows no record uses.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--grace-minutes", type=float, default=60, show_default=True,
              help="Leave objects younger than this (an ingestion run may be mid-way).")
def storage_gc(dry_run: bool, grace_minutes: float) -> None:
    from lomba_pipeline.catalog.review.storage import collect_garbage

    app, _settings = build_app_from_settings()
    report = collect_garbage(app.state.postgres, app.state.object_store, dry_run=dry_run,
                             grace_seconds=grace_minutes * 60, actor="cli")
    for key in report.orphaned:
        click.echo(("would remove " if dry_run else "removed ") + key)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(report.orphaned if dry_run else report.removed)} object(s), "
               f"{len(report.unused_images)} unused image row(s)")
