"""Child processes of the chaos bench that are not ``lomba run`` (which is used as is).

    python bench/chaos_child.py broadcast [--recover]
        approve every pending record and broadcast it, as the admin panel's "Setujui" button does
        (``actions.approve`` then ``broadcast_competition``); ``--recover`` then runs the
        ``whatsapp_catch_up_job`` (retries definite failures).
    python bench/chaos_child.py post --fake URL --day 2026-12-02 ig_001 ig_002 ...
        lane B: ``ig_post_job`` for each account, clock frozen at 08:00 WIB of ``--day``.

Configuration comes from the environment (``LOMBA_*``) like any entry point; each line printed is
one step, flushed, so the parent can time its kills.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from zoneinfo import ZoneInfo


def say(line: str) -> None:
    print(line, flush=True)


def broadcast(recover: bool) -> None:
    import dagster as dg

    from lomba_pipeline.catalog.review import actions
    from lomba_pipeline.catalog.review.broadcast import broadcast_competition
    from lomba_pipeline.catalog.review.whatsapp_jobs import whatsapp_catch_up_job
    from lomba_pipeline.resources.object_store import object_store_from_settings
    from lomba_pipeline.resources.postgres import postgres_from_settings
    from lomba_pipeline.resources.whatsapp import (
        whatsapp_from_settings,
        whatsapp_targets_from_settings,
    )
    from lomba_pipeline.settings import get_settings

    settings = get_settings()
    pg = postgres_from_settings(settings, for_dagster=False)
    store = object_store_from_settings(settings, for_dagster=False)
    whatsapp = whatsapp_from_settings(settings, for_dagster=False)
    with pg.cursor() as cur:
        cur.execute("SELECT id FROM competitions ORDER BY id")
        ids = [r["id"] for r in cur.fetchall()]
    say(f"start: {len(ids)} records")
    for cid in ids:
        with pg.connection() as conn:
            result = actions.approve(conn, cid, actor="chaos")
        outcome = broadcast_competition(pg, store, whatsapp, whatsapp_targets_from_settings(settings),
                                        cid, actor="chaos")
        say(f"record {cid}: approved={result.changed} broadcast={outcome.status}")
    if recover:
        result = whatsapp_catch_up_job.execute_in_process(
            resources={
                "postgres": pg,
                "object_store": store,
                "whatsapp": whatsapp,
                "whatsapp_targets": whatsapp_targets_from_settings(settings),
            },
            # the killed sender is certainly gone: settle its claim now, not after 10 minutes
            run_config={"ops": {"settle_interrupted_broadcasts": {
                "config": {"stale_after_minutes": 0}}}},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        say(f"catch-up job: success={result.success}")
    say("chaos-child: finished")


def post(fake_url: str, day: str, accounts: list[str]) -> None:
    import dagster as dg

    from lomba_pipeline.ig_ops.clock import IgClock
    from lomba_pipeline.ig_ops.jobs import ACCOUNT_TAG, POST_DATE_TAG, ig_post_job
    from lomba_pipeline.resources.ai import AiResource
    from lomba_pipeline.resources.instagram_ops import InstagramOpsResource
    from lomba_pipeline.resources.object_store import object_store_from_settings
    from lomba_pipeline.resources.postgres import postgres_from_settings
    from lomba_pipeline.resources.whatsapp import WhatsAppGateway
    from lomba_pipeline.secrets_box import encryption_key_from_settings
    from lomba_pipeline.settings import get_settings

    settings = get_settings()
    now = datetime.fromisoformat(f"{day}T08:00:00").replace(tzinfo=ZoneInfo("Asia/Jakarta"))
    resources = {
        "ai": AiResource(),
        "postgres": postgres_from_settings(settings, for_dagster=False),
        "object_store": object_store_from_settings(settings, for_dagster=False),
        "ig_ops": InstagramOpsResource(
            api_base_url=fake_url, request_delay_seconds=0,
            graph_api_base_url=fake_url + "/graph", graph_poll_seconds=0.01,
            encryption=encryption_key_from_settings(get_settings()),
        ),
        "ig_clock": IgClock(frozen_at=now.isoformat()),
        "whatsapp": WhatsAppGateway(),
    }
    say(f"start: {len(accounts)} accounts")
    with dg.DagsterInstance.ephemeral() as instance:
        for account in accounts:
            result = ig_post_job.execute_in_process(
                resources=resources, partition_key=account, instance=instance,
                tags={ACCOUNT_TAG: account, POST_DATE_TAG: day}, raise_on_error=False,
            )
            say(f"post {account}: success={result.success}")
    say("chaos-child: finished")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="kind", required=True)
    b = sub.add_parser("broadcast")
    b.add_argument("--recover", action="store_true")
    p = sub.add_parser("post")
    p.add_argument("--fake", required=True)
    p.add_argument("--day", required=True)
    p.add_argument("accounts", nargs="+")
    args = parser.parse_args()
    if args.kind == "broadcast":
        broadcast(args.recover)
    else:
        post(args.fake, args.day, args.accounts)


if __name__ == "__main__":
    main()
