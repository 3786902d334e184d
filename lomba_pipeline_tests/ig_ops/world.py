"""A small world for IG-operations tests: the fake Instagram, 10 imported accounts with content
folders, the active spec, real resources, and helpers that drive the real Dagster jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import yaml

from lomba_pipeline.ig_ops.accounts import import_accounts
from lomba_pipeline.ig_ops.clock import IgClock
from lomba_pipeline.ig_ops.content_store import sync_content
from lomba_pipeline.ig_ops.demo import write_demo_content
from lomba_pipeline.ig_ops.jobs import ACCOUNT_TAG, POST_DATE_TAG, ig_post_job, ig_reply_job
from lomba_pipeline.ig_ops.spec import apply_spec, parse_spec
from lomba_pipeline.partitions import OPERATED_ACCOUNTS
from lomba_pipeline.resources.ai import AiResource
from lomba_pipeline.resources.instagram_ops import InstagramOpsResource
from lomba_pipeline.resources.whatsapp import WhatsAppGateway, WhatsAppTargets
from lomba_pipeline.secrets_box import (
    EncryptionKey,
    encryption_key_from_settings,
    secret_box_from_settings,
)
from lomba_pipeline.settings import PROJECT_ROOT, get_settings

WIB = ZoneInfo("Asia/Jakarta")
SPEC_FILE = PROJECT_ROOT / "config" / "ig_spec.yaml"


def uid(account: str) -> str:
    return str(1000 + int(account[-3:]))


def wib(text: str) -> datetime:
    """'2026-11-20 08:00' in Asia/Jakarta."""
    return datetime.fromisoformat(text).replace(tzinfo=WIB)


def spec_for_tests(text: str | None = None) -> str:
    """The project's spec (or ``text``) without the pause between actions: the clock is frozen
    in tests and the pause would only be a real sleep."""
    return (text or SPEC_FILE.read_text()).replace(
        "min_seconds_between_actions: 2", "min_seconds_between_actions: 0"
    )


@dataclass
class World:
    fake: object
    postgres: object
    object_store: object
    root: Path
    ai: AiResource = field(default_factory=AiResource)  # no key: rules only
    accounts: list[str] = field(default_factory=lambda: list(OPERATED_ACCOUNTS))
    media: dict[str, str] = field(default_factory=dict)  # account -> seeded media pk
    whatsapp: WhatsAppGateway = field(default_factory=WhatsAppGateway)  # off unless a test sets it
    admin_group: str | None = None  # where the nightly report goes (a test sets it)
    sensor_cursor: str | None = None  # the reply sensor's cursor between simulated ticks
    # the session's development key (the file under LOMBA_HOME that import_accounts used)
    encryption: EncryptionKey = field(default_factory=lambda: encryption_key_from_settings(
        get_settings()))

    def resources(self, now: datetime) -> dict:
        return {
            "ai": self.ai,
            "postgres": self.postgres,
            "object_store": self.object_store,
            "ig_ops": InstagramOpsResource(
                api_base_url=self.fake.url,
                request_delay_seconds=0,
                graph_api_base_url=self.fake.url + "/graph",
                graph_poll_seconds=0.01,
                encryption=self.encryption,
            ),
            "ig_clock": IgClock(frozen_at=now.isoformat()),
            "whatsapp": self.whatsapp,
            "whatsapp_targets": WhatsAppTargets(whatsapp_admin_group_id=self.admin_group),
        }

    def run_reply(self, account: str, now: datetime, instance=None) -> dg.ExecuteInProcessResult:
        return ig_reply_job.execute_in_process(
            resources=self.resources(now),
            tags={ACCOUNT_TAG: account},
            instance=instance,
            raise_on_error=False,
        )

    def run_requested(
        self, request: dg.RunRequest, now: datetime, instance=None
    ) -> dg.ExecuteInProcessResult:
        """The reply run the sensor asked for: its tags and its run config (what to look at)."""
        return ig_reply_job.execute_in_process(
            resources=self.resources(now),
            run_config=request.run_config or None,
            tags=dict(request.tags),
            instance=instance,
            raise_on_error=False,
        )

    def run_post(self, account: str, now: datetime, instance=None) -> dg.ExecuteInProcessResult:
        return ig_post_job.execute_in_process(
            resources=self.resources(now),
            partition_key=account,
            instance=instance,
            tags={ACCOUNT_TAG: account, POST_DATE_TAG: now.astimezone(WIB).strftime("%Y-%m-%d")},
            raise_on_error=False,
        )

    def comment(self, account: str, text: str, who: str = "siswa_a", who_pk: int = 555) -> str:
        self.fake.add_user(who_pk, who)
        return self.fake.add_comment(self.media[account], who_pk, who, text)

    def dm(self, account: str, text: str, who: str = "siswa_b", who_pk: int = 556) -> str:
        self.fake.add_user(who_pk, who)
        return self.fake.add_dm(uid(account), who_pk, who, text)

    def sync_content(self) -> None:
        for account in self.accounts:
            sync_content(self.object_store, account, self.root / "content" / account)

    def events(self, kind: str) -> list[dict]:
        """The data of every event of ``kind``, oldest first."""
        return [d for (d,) in self.sql(
            "SELECT data FROM events WHERE kind = %s ORDER BY id", (kind,))]

    def sql(self, query: str, params=()) -> list[tuple]:
        with self.postgres.connection() as conn, conn.cursor() as cur:
            cur.execute(query, params or None)
            return cur.fetchall() if cur.description else []


def build_world(
    fake,
    postgres,
    object_store,
    tmp_path: Path,
    monkeypatch,
    settings,
    *,
    accounts: list[str] | None = None,
    new_accounts=(),
    spec_text: str | None = None,
    posts_per_account: int = 3,
) -> World:
    accounts = accounts or list(OPERATED_ACCOUNTS)
    root = tmp_path / "ig"
    content = root / "content"
    entries = []
    for account in accounts:
        fake.add_user(uid(account), f"op.{account}")
        write_demo_content(content, account, posts_per_account)
        env = f"LOMBA_IG_TEST_{account.upper()}_SESSIONID"
        monkeypatch.setenv(env, f"{uid(account)}%3AAbCdEfGhIjKlMnOp{account}%3A12%3AAYfake")
        entries.append(
            {
                "id": account,
                "username": f"op.{account}",
                "content_dir": f"content/{account}",
                "credentials": {"sessionid_env": env},
                "flags": {"new_account": account in new_accounts},
            }
        )
    accounts_file = root / "accounts.yaml"
    accounts_file.write_text(yaml.safe_dump({"accounts": entries}))
    with postgres.connection() as conn:
        import_accounts(conn, secret_box_from_settings(settings), accounts_file, actor="test")
        apply_spec(
            conn, parse_spec(spec_for_tests(spec_text)), actor="test", source="test"
        )
    world = World(fake, postgres, object_store, root, accounts=accounts)
    world.sync_content()  # what `lomba accounts sync-content` does: the post lane reads the store
    for account in accounts:
        world.media[account] = fake.add_media(uid(account), f"Postingan lama {account}")
    return world


def run_in_child(
    kind: str,
    account: str,
    now_iso: str,
    fake_url: str,
    store_root: str,
    public_base: str,
    database_url: str,
) -> None:
    """Entry point of a separate process that runs one lane job (killed by crash tests)."""
    from types import SimpleNamespace

    from lomba_pipeline.resources import postgres as pg_module
    from lomba_pipeline.resources.object_store import LocalObjectStore
    from lomba_pipeline.resources.postgres import PostgresResource

    # forked: the parent's pooled connections must not be shared; open our own
    pg_module._pools.clear()

    world = World(
        SimpleNamespace(url=fake_url),
        PostgresResource(database_url=database_url),
        LocalObjectStore(root=store_root, public_base_url=public_base),
        Path(store_root),
    )
    now = datetime.fromisoformat(now_iso)
    (world.run_reply if kind == "reply" else world.run_post)(account, now)
