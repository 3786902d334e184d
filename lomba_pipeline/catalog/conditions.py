"""When the catalog's downstream assets update: Dagster's declarative automation, not sensors.

The default automation-condition sensor evaluates these every 30 s; nothing here calls an
outside system.
"""

import dagster as dg

from lomba_pipeline.partitions import TIMEZONE

# Posters: after any scrape partition (a web window, an IG profile window, a manual link) is
# updated, once the scrapes in flight are done. ``eager()`` would wait for every historical
# window of every scrape to exist, which never happens for an unpartitioned drain.
AFTER_ANY_SCRAPE = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("after any scrape")


def eager_or_on(cron: str, label: str) -> dg.AutomationCondition:
    """After the upstream updates, and also at each ``cron`` tick (Asia/Jakarta)."""
    on_tick = dg.AutomationCondition.cron_tick_passed(cron, TIMEZONE) & ~(
        dg.AutomationCondition.in_progress()
    )
    return dg.AutomationCondition.eager() | on_tick.with_label(label)


# Extraction retries items whose provider failed and incomplete records a scrape re-queued, once
# per window, an hour after the scrape; the per-item attempt cap keeps this from costing for ever.
EAGER_OR_RETRY = eager_or_on("0 1,7,13,19 * * *", "retry tick")

# People review in the admin panel, outside Dagster: the review state is re-read after each
# extraction and every hour.
EAGER_OR_HOURLY = eager_or_on("0 * * * *", "hourly")

catalog_automation_sensor = dg.AutomationConditionSensorDefinition(
    "catalog_automation_sensor",
    target=dg.AssetSelection.groups("media", "extract", "catalog"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materializes posters, extraction and the review state as their conditions say.",
)
