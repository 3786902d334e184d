"""The application database for a command-line entry point, schema up to date."""

import click

from lomba_pipeline.resources.postgres import PostgresResource, postgres_from_settings
from lomba_pipeline.settings import get_settings


def migrated_postgres() -> PostgresResource:
    """The application database from the settings (plain values, no ``EnvVar``: no Dagster run
    resolves them here), with pending migrations applied and reported on stderr."""
    pg = postgres_from_settings(get_settings(), for_dagster=False)
    applied = pg.migrate()
    if applied:
        click.echo(f"applied migrations: {', '.join(applied)}", err=True)
    return pg
