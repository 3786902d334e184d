"""Ingestion assets: the raw scrapes and the posters they point at.

The scrapes are partitioned where the partition is honest:
- ``web_listings`` by 6-hour window. Catalog sites serve their *current* list, so a backfill of an
  old window re-reads today's list; its metadata says so (``window_coverage``) instead of pretending.
- ``ig_profile_posts`` by window × profile: a profile's feed has dates, so a window reads the posts
  taken inside it.
- ``manual_link_posts`` by link (dynamic partitions keyed by a hash of the canonical URL).

``poster_images`` drains a queue that spans every source and window (every raw item with a
poster URL and neither an image nor an error), so it is not partitioned: Dagster's automation
materializes it whenever any scrape partition is updated. Re-running is harmless: stored items
are no longer pending and the object store is content-addressed.
"""

import dataclasses
from datetime import timedelta

import dagster as dg

from lomba_pipeline.catalog.conditions import AFTER_ANY_SCRAPE
from lomba_pipeline.catalog.ingestion.service import (
    ingest_ig_profile,
    ingest_manual_link,
    ingest_web,
    latest_window_key,
    store_posters,
    window_for_key,
)
from lomba_pipeline.catalog.sources.config import SourcesConfig, load_sources
from lomba_pipeline.partitions import TIMEZONE, manual_links, six_hourly
from lomba_pipeline.resources.instagram import (
    InstagramNotConfigured,
    InstagramReader,
    InstagramUnavailable,
)
from lomba_pipeline.resources.object_store import ObjectStore
from lomba_pipeline.resources.outbound import OutboundFetch
from lomba_pipeline.resources.poster_fetch import PosterFetcher
from lomba_pipeline.resources.postgres import PostgresResource


class CatalogSources(dg.ConfigurableResource):
    """Where ``sources.yaml`` lives (resource key ``catalog_sources``)."""

    path: str
    # ``${NAME}`` values in the file (the demo's local site URL); empty in production
    variables: dict[str, str] = {}

    def load(self) -> SourcesConfig:
        return load_sources(self.path, self.variables or None)


# The schedules scrape at 00/06/12/18 WIB; a scrape is late when nothing was scraped in the six
# hours before the following 01/07/13/19 deadline: the schedule, the site or the account is
# broken (shown in the UI's asset health; the nightly report lists sources that went quiet).
FRESH_EVERY_WINDOW = dg.FreshnessPolicy.cron(
    deadline_cron="0 1,7,13,19 * * *", lower_bound_delta=timedelta(hours=6), timezone=TIMEZONE
)


def ig_window_profile(profiles: list[str]) -> dg.MultiPartitionsDefinition:
    """Window × profile. The profiles are a static set read from the sources file when the code
    location loads; usernames only hold letters, digits, "." and "_", all legal in keys."""
    return dg.MultiPartitionsDefinition(
        {"window": six_hourly, "profile": dg.StaticPartitionsDefinition(profiles)}
    )


def source_reports_metadata(reports) -> dg.MetadataValue:
    """The per-source reports as JSON (what ``lomba run`` prints its summary table from)."""
    return dg.MetadataValue.json([dataclasses.asdict(r) for r in reports])


def _table(reports) -> dg.MetadataValue:
    lines = ["| source | status | found | new | re-queued | errors |", "|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(
            f"| {r.kind} {r.name} | {r.status} | {r.found} | {r.new} | {r.requeued} "
            f"| {len(r.errors)} |"
        )
    return dg.MetadataValue.md("\n".join(lines))


@dg.asset(
    partitions_def=six_hourly,
    group_name="scrape",
    kinds={"crawlee", "postgres"},
    freshness_policy=FRESH_EVERY_WINDOW,
    description="Listings of the configured web catalogs (crawlee), stored as raw items.",
)
def web_listings(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    catalog_sources: CatalogSources,
    outbound: OutboundFetch,
) -> dg.MaterializeResult:
    config = catalog_sources.load()
    window = window_for_key(context.partition_key)
    reports = ingest_web(postgres, config, window, context.log.info, outbound.policy())
    if reports and all(r.status == "unreachable" for r in reports):
        raise dg.Failure(
            "every web source was unreachable: " + "; ".join(r.errors[0] for r in reports),
            metadata={"sources": _table(reports), "source_reports": source_reports_metadata(reports)},
        )
    return dg.MaterializeResult(
        metadata={
            "window": window.key,
            "window_coverage": _coverage(window.key),
            "source_reports": source_reports_metadata(reports),
            "found": sum(r.found for r in reports),
            "new": sum(r.new for r in reports),
            "requeued": sum(r.requeued for r in reports),
            "errors": sum(len(r.errors) for r in reports),
            "unreachable_sources": [r.name for r in reports if r.status == "unreachable"],
            # a budget (load-more time, pass deadline) cut these sources short: which and why
            "stopped_early": {r.name: "; ".join(r.stopped_early) for r in reports if r.stopped_early},
            "sources": _table(reports),
        }
    )


def _coverage(window_key: str) -> str:
    if window_key == latest_window_key():
        return "current list"
    return (
        "current list, not this window's: catalog sites serve only their live listings, so a "
        "backfill of an old window stores what the sites list today"
    )


def build_ig_profile_posts(profiles: list[str]) -> dg.AssetsDefinition:
    """``ig_profile_posts`` over the configured profiles (a new profile needs a reload)."""

    @dg.asset(
        name="ig_profile_posts",
        partitions_def=ig_window_profile(profiles),
        group_name="scrape",
        freshness_policy=FRESH_EVERY_WINDOW,
        kinds={"instagram", "postgres"},
        pool="instagram_api",
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        ),
        description="Posts of one configured Instagram profile taken inside one 6-hour window.",
    )
    def ig_profile_posts(
        context: dg.AssetExecutionContext,
        postgres: PostgresResource,
        instagram: InstagramReader,
        catalog_sources: CatalogSources,
    ) -> dg.MaterializeResult:
        keys = context.partition_key.keys_by_dimension
        profile, window = keys["profile"], window_for_key(keys["window"])
        config = catalog_sources.load()
        try:
            gateway = instagram.gateway(
                postgres,
                on_wait=lambda attempt, exc: context.log.warning(
                    f"[IG] {profile}: attempt {attempt} refused ({type(exc).__name__}); waiting "
                    f"{instagram.throttle_wait_seconds:g} s"
                ),
                max_posts=config.instagram.max_posts_per_profile,
            )
            report = ingest_ig_profile(postgres, gateway, profile, window, context.log.info)
        except InstagramNotConfigured as exc:
            raise dg.Failure(
                str(exc), allow_retries=False, metadata={"source_status": "skipped"}
            ) from None
        except InstagramUnavailable as exc:
            # the gateway already waited and retried; a run retry would only hammer Instagram more
            raise dg.Failure(
                str(exc), allow_retries=False, metadata={"source_status": "failed"}
            ) from None
        return dg.MaterializeResult(
            metadata={
                "profile": profile,
                "window": window.key,
                **report.as_metadata(),
                "source_reports": source_reports_metadata([report]),
            }
        )

    return ig_profile_posts


@dg.asset(
    partitions_def=manual_links,
    group_name="scrape",
    kinds={"instagram", "postgres"},
    pool="instagram_api",
    description="The Instagram post behind one manually submitted link.",
)
def manual_link_posts(
    context: dg.AssetExecutionContext, postgres: PostgresResource, instagram: InstagramReader
) -> dg.MaterializeResult:
    try:
        gateway = instagram.gateway(postgres)
        report = ingest_manual_link(postgres, gateway, context.partition_key, context.log.info)
    except (InstagramNotConfigured, InstagramUnavailable, LookupError) as exc:
        raise dg.Failure(str(exc), allow_retries=False) from None
    return dg.MaterializeResult(metadata={"url": report.name, **report.as_metadata()})


@dg.asset(
    group_name="media",
    kinds={"s3", "postgres"},
    deps=[
        dg.AssetDep(web_listings, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep("ig_profile_posts", partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(manual_link_posts, partition_mapping=dg.AllPartitionMapping()),
    ],
    automation_condition=AFTER_ANY_SCRAPE,
    description="Posters of every raw item still waiting for one (any source, any window), "
    "checked and stored content-addressed (R2 or local).",
)
def poster_images(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    object_store: ObjectStore,
    outbound: OutboundFetch,
) -> dg.MaterializeResult:
    with PosterFetcher(outbound.policy()) as fetcher:
        report = store_posters(postgres, object_store, fetcher, context.log.info)
    return dg.MaterializeResult(metadata=report.as_metadata())


def ingestion_assets(profiles: list[str]) -> list[dg.AssetsDefinition]:
    return [web_listings, build_ig_profile_posts(profiles), manual_link_posts, poster_images]
