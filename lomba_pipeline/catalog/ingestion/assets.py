"""Ingestion assets: web listings, IG profile posts, manual link posts, poster images.

``poster_images`` is partitioned by the same 6-hour windows as ``web_listings`` so that each
scheduled run shows one materialization per window, but each run drains the whole poster backlog
(every raw item with a poster URL and neither an image nor an error), whichever source or window
found it: posters from IG and manual-link runs are picked up by the next poster run (the
``poster_backlog_sensor`` launches one as soon as a backlog appears). Re-running is harmless:
stored items are no longer pending and the object store is content-addressed.
"""

import dagster as dg

from lomba_pipeline.catalog.ingestion.service import (
    ingest_ig_profile,
    ingest_manual_link,
    ingest_web,
    store_posters,
    window_for_key,
)
from lomba_pipeline.catalog.sources.config import SourcesConfig, load_sources, profiles_in
from lomba_pipeline.partitions import manual_links, six_hourly
from lomba_pipeline.resources.instagram import (
    InstagramNotConfigured,
    InstagramReader,
    InstagramUnavailable,
)
from lomba_pipeline.resources.object_store import ObjectStore
from lomba_pipeline.resources.outbound import OutboundFetch
from lomba_pipeline.resources.poster_fetch import PosterFetcher
from lomba_pipeline.resources.postgres import PostgresResource
from lomba_pipeline.settings import get_settings


class CatalogSources(dg.ConfigurableResource):
    """Where ``sources.yaml`` lives (resource key ``catalog_sources``)."""

    path: str

    def load(self) -> SourcesConfig:
        return load_sources(self.path)


# IG source profiles are a static set read from the sources file when the code location loads;
# usernames only hold letters, digits, "." and "_", all legal in partition keys.
ig_profiles = dg.StaticPartitionsDefinition(profiles_in(get_settings().sources_file))
ig_window_profile = dg.MultiPartitionsDefinition({"window": six_hourly, "profile": ig_profiles})


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
            metadata={"sources": _table(reports)},
        )
    return dg.MaterializeResult(
        metadata={
            "window": window.key,
            "found": sum(r.found for r in reports),
            "new": sum(r.new for r in reports),
            "requeued": sum(r.requeued for r in reports),
            "errors": sum(len(r.errors) for r in reports),
            "unreachable_sources": [r.name for r in reports if r.status == "unreachable"],
            "sources": _table(reports),
        }
    )


@dg.asset(
    partitions_def=ig_window_profile,
    group_name="scrape",
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
        raise dg.Failure(str(exc), allow_retries=False) from None
    except InstagramUnavailable as exc:
        # the gateway already waited and retried; a run retry would only hammer Instagram more
        raise dg.Failure(str(exc), allow_retries=False) from None
    return dg.MaterializeResult(
        metadata={"profile": profile, "window": window.key, **report.as_metadata()}
    )


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
    partitions_def=six_hourly,
    group_name="media",
    kinds={"s3", "postgres"},
    deps=[
        web_listings,
        ig_profile_posts,
        dg.AssetDep(manual_link_posts, partition_mapping=dg.AllPartitionMapping()),
    ],
    description="Posters of raw items, checked and stored content-addressed (R2 or local).",
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


ingestion_assets = [web_listings, ig_profile_posts, manual_link_posts, poster_images]
