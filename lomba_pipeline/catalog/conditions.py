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

# Extraction retries items whose provider failed and incomplete records a scrape re-queued, once
# per window, an hour after the scrape; the per-item attempt cap keeps this from costing for ever.
RETRY_CRON = "0 1,7,13,19 * * *"
EAGER_OR_RETRY = (
    dg.AutomationCondition.eager()
    | (
        dg.AutomationCondition.cron_tick_passed(RETRY_CRON, TIMEZONE)
        & ~dg.AutomationCondition.in_progress()
    ).with_label("retry tick")
)

# People review in the admin panel, outside Dagster: the review state is re-read after each
# extraction and every hour.
REVIEW_CRON = "0 * * * *"
EAGER_OR_HOURLY = (
    dg.AutomationCondition.eager()
    | (
        dg.AutomationCondition.cron_tick_passed(REVIEW_CRON, TIMEZONE)
        & ~dg.AutomationCondition.in_progress()
    ).with_label("hourly")
)

catalog_automation_sensor = dg.AutomationConditionSensorDefinition(
    "catalog_automation_sensor",
    target=dg.AssetSelection.groups("media", "extract", "catalog"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materializes posters, extraction and the review state as their conditions say.",
)
