"""A snapshot of the asset graph: every asset's upstream keys, partitions and automation.

A missing edge (the lineage view would stop short) or a partition that changes meaning fails
here; update the snapshot only when the graph is meant to change.
"""

import dagster as dg

from lomba_pipeline.definitions import build_definitions

EXPECTED = {
    "web_listings": ([], "TimeWindowPartitionsDefinition", None),
    "ig_profile_posts": ([], "MultiPartitionsDefinition", None),
    "manual_link_posts": ([], "DynamicPartitionsDefinition", None),
    "poster_images": (["ig_profile_posts", "manual_link_posts", "web_listings"], None, "automated"),
    "extracted_fields": (["poster_images"], None, "automated"),
    "competitions": (["extracted_fields"], None, "automated"),
    "reviewed_competitions": (["competitions"], None, "automated"),
    "nightly_catalog_report": (["reviewed_competitions"], "DailyPartitionsDefinition", None),
    "nightly_ig_report": ([], "DailyPartitionsDefinition", None),
}


def _shape(node) -> tuple:
    partitions = type(node.partitions_def).__name__ if node.partitions_def else None
    automated = "automated" if node.automation_condition is not None else None
    return sorted(k.to_user_string() for k in node.parent_keys), partitions, automated


def test_asset_graph_snapshot():
    graph = build_definitions().resolve_asset_graph()
    actual = {key.to_user_string(): _shape(graph.get(key)) for key in graph.get_all_asset_keys()}
    assert actual == EXPECTED


def test_reviewed_records_are_downstream_of_every_scrape():
    graph = build_definitions().resolve_asset_graph()
    upstream = graph.get_ancestor_asset_keys(dg.AssetKey("reviewed_competitions"))
    assert {dg.AssetKey(k) for k in ("web_listings", "ig_profile_posts", "manual_link_posts",
                                     "poster_images", "extracted_fields", "competitions")} <= upstream


def test_web_windows_share_the_ig_window_dimension():
    graph = build_definitions().resolve_asset_graph()
    web = graph.get(dg.AssetKey("web_listings")).partitions_def
    ig = graph.get(dg.AssetKey("ig_profile_posts")).partitions_def
    assert ig.get_partitions_def_for_dimension("window") == web
