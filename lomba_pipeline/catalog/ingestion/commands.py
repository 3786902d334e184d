"""``lomba run``, ``lomba demo`` and ``lomba links add``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lomba_pipeline.catalog.ingestion.assets import CatalogSources
from lomba_pipeline.catalog.ingestion.links import InvalidLink, submit_link
from lomba_pipeline.catalog.ingestion.run_pass import PassSummary, run_catalog_pass
from lomba_pipeline.catalog.ingestion.service import latest_window
from lomba_pipeline.catalog.sources.config import SourcesConfigError, load_sources
from lomba_pipeline.resources.instagram import InstagramReader
from lomba_pipeline.resources.outbound import (
    AllowListError,
    OutboundFetch,
    OutboundPolicy,
    outbound_from_settings,
)
from lomba_pipeline.secrets_box import encryption_key_from_settings
from lomba_pipeline.settings import PROJECT_ROOT, get_settings

DEMO_SOURCES = PROJECT_ROOT / "config" / "sources.demo.yaml"
DEMO_SESSIONID = "424242%3ADemoSesiSintetis%3A12%3AAYdemo"  # accepted only by the demo's fake


def _echo(line: str) -> None:
    click.echo(line)


def run_pass_command(
    sources_path=None,
    variables=None,
    instagram=None,
    log=_echo,
    outbound: OutboundPolicy | None = None,
) -> PassSummary:
    """The body of ``lomba run``: the catalog assets for the latest window, in-process, on the
    project's Dagster instance (the runs show in the UI). ``outbound`` replaces the settings'
    fetch policy (the demo maps its host names to its port)."""
    import dagster as dg

    from lomba_pipeline.db.migrated import migrated_postgres
    from lomba_pipeline.definitions import build_resources
    from lomba_pipeline.instance import apply_dagster_environment

    settings = get_settings()
    path = Path(sources_path or settings.sources_file)
    config = load_sources(path, variables)
    migrated_postgres()
    apply_dagster_environment(settings)
    resources = build_resources(settings)
    resources["catalog_sources"] = CatalogSources(path=str(path), variables=variables or {})
    if instagram is not None:
        resources["instagram"] = instagram
    if outbound is not None:
        resources["outbound"] = OutboundFetch(
            allow_hosts=outbound.as_setting(), deadline_seconds=outbound.deadline_seconds,
            max_redirects=outbound.max_redirects,
        )
    resources["outbound"].policy()  # a bad allow-list entry is one line, before any run
    window = latest_window()
    log(f"catalog pass over {path} for window {window.key}")
    with dg.DagsterInstance.get() as instance:
        return run_catalog_pass(resources, config.instagram.profiles, window, log, instance)


def run_and_print(sources_path: str | None = None) -> None:
    """``lomba run``: the pass, then the summary table; exit 1 when the config is invalid or a
    pipeline step (posters, extraction, review state) failed, 0 otherwise (an unreachable
    source is reported in the table, not an error of the pass)."""
    try:
        summary = run_pass_command(sources_path)
    except (SourcesConfigError, AllowListError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("\n" + summary.table())
    if summary.failed_sources:
        click.echo(
            f"{len(summary.failed_sources)} source(s) could not be read this pass (see the table);"
            " the others completed."
        )
    if summary.failed_steps:
        # sources that cannot be read are a normal day; a failed pipeline step is not
        raise SystemExit(1)


@click.command("demo", help="Offline demo: a pass over SYNTHETIC local sites and a fake Instagram.")
@click.option(
    "--port",
    type=int,
    default=18765,
    show_default=True,
    help="Port of the synthetic sites (any port: stored URLs use fixed demo host names).",
)
def demo_command(port: int) -> None:
    from lomba_pipeline.demo.content import default_demo_content, make_ig_posts
    from lomba_pipeline.demo.site import DEMO_HOSTS, SyntheticSite, demo_host_map

    window = latest_window()
    profiles = load_sources(DEMO_SOURCES).instagram.profiles
    site = SyntheticSite(
        **default_demo_content(),
        ig_profiles={p: make_ig_posts(p, window.start) for p in profiles},
    )
    try:
        site.start(port)
    except RuntimeError:
        site.start(0)  # the fixed port is taken: still run, on any free port
    site.media_url = f"http://{DEMO_HOSTS['media']}"
    click.echo(f"SYNTHETIC sites and fake Instagram on {site.url} (nothing leaves this machine)")
    # the demo's fixed host names are served from its port: stored URLs stay the same
    try:
        outbound = outbound_from_settings(get_settings()).policy()
    except AllowListError as exc:
        site.stop()
        raise click.ClickException(str(exc)) from None
    outbound = outbound.with_mapped(demo_host_map(site.port))
    reader = InstagramReader(
        scraper_username="demo_scraper",
        scraper_sessionid=DEMO_SESSIONID,
        api_base_url=site.url,
        request_delay_seconds=0,
        throttle_wait_seconds=1,
        max_attempts=3,
        encryption=encryption_key_from_settings(get_settings()),
    )
    try:
        summary = run_pass_command(DEMO_SOURCES, None, reader, outbound=outbound)
    finally:
        site.stop()
    click.echo("\n" + summary.table())
    if summary.failed_steps:
        raise SystemExit(1)


@click.group("links", help="Manually submitted Instagram post links.")
def links() -> None:
    pass


@links.command("add", help="Submit Instagram post URLs; the sensor queues one run per new link.")
@click.argument("urls", nargs=-1, required=True)
@click.option("--by", "submitted_by", default="cli", show_default=True)
def links_add(urls: tuple[str, ...], submitted_by: str) -> None:
    from lomba_pipeline.db.migrated import migrated_postgres

    postgres = migrated_postgres()
    rejected = 0
    for url in urls:
        try:
            with postgres.connection() as conn:
                link = submit_link(conn, url, submitted_by)
        except InvalidLink as exc:
            rejected += 1
            click.echo(f"rejected: {exc}", err=True)
            continue
        state = "added" if link.created else f"already submitted (status {link.status})"
        click.echo(f"{state}: {link.canonical_url} (partition {link.partition_key})")
    if rejected:
        sys.exit(1)
