"""Through ``lomba dev`` (webserver + daemon): a submitted link reaches the review state by
Dagster's automation alone."""

import pytest

from lomba_pipeline_tests.manual_link_flow import run_manual_link_through_daemon


@pytest.mark.timeout(420)
def test_a_manual_link_reaches_the_review_state_by_automation_alone(postgres,
                                                                   own_dagster_database):
    flow = run_manual_link_through_daemon(dagster_database_url=own_dagster_database)
    # the order of the chain is the order of the lineage
    at = flow.materialized_at
    assert (at["manual_link_posts"] <= at["poster_images"] <= at["extracted_fields"]
            <= at["competitions"] <= at["reviewed_competitions"])
    launchers = set()
    for run in flow.runs:
        tags = {t["key"]: t["value"] for t in run["tags"]}
        launchers.add(tags.get("dagster/sensor_name"))
        assert run["status"] == "SUCCESS", run
    # only the link sensor (work from outside) and the automation sensor launched anything
    assert launchers == {"manual_link_sensor", "catalog_automation_sensor"}
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT r.source_kind, c.review_status, c.title FROM competitions c"
            " JOIN raw_items r ON r.id = c.raw_item_id WHERE c.canonical_url = %s",
            (flow.canonical_url,),
        )
        record = cur.fetchone()
    assert record["source_kind"] == "manual" and record["review_status"] == "pending"
    assert record["title"]
