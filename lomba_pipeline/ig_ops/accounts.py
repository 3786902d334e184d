"""The operated accounts: ``config/accounts.yaml`` → ``ig_accounts`` (credentials encrypted).

The YAML names the environment variables that hold each account's secrets; ``import`` reads
them once, encrypts them with LOMBA_ENCRYPTION_KEY and stores only the ciphertext.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import Field, ValidationError

from lomba_pipeline.db.events import record_event
from lomba_pipeline.ig_ops.spec import Strict, describe, read_config_text
from lomba_pipeline.secrets_box import SecretBox
from lomba_pipeline.settings import named_secret

CREDENTIAL_FIELDS = ("sessionid", "password", "graph_access_token", "graph_user_id")
# an account's secrets come only from this family: a typo can't store, say, an AI key as a session
SECRET_ENV = r"^LOMBA_IG_[A-Z0-9_]+$"


class AccountCredentialsConfig(Strict):
    sessionid_env: str | None = Field(None, pattern=SECRET_ENV)
    password_env: str | None = Field(None, pattern=SECRET_ENV)
    graph_access_token_env: str | None = Field(None, pattern=SECRET_ENV)
    graph_user_id_env: str | None = Field(None, pattern=SECRET_ENV)


class AccountFlags(Strict):
    enabled: bool = True
    new_account: bool = False  # the first post waits for approval
    approve_all_posts: bool = False


class AccountConfig(Strict):
    id: str = Field(pattern=r"^ig_\d{3}$")
    username: str = Field(min_length=1, max_length=30)
    content_dir: str = Field(min_length=1)
    credentials: AccountCredentialsConfig = AccountCredentialsConfig()
    flags: AccountFlags = AccountFlags()


class AccountsFile(Strict):
    accounts: list[AccountConfig] = Field(min_length=1)


class AccountsConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    account_id: str
    username: str
    position: int
    content_dir: Path
    enabled: bool
    is_new: bool
    approve_all_posts: bool
    cooldown_until: datetime | None


def load_accounts_file(path: Path) -> list[AccountConfig]:
    path = Path(path)
    text = read_config_text(path, AccountsConfigError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AccountsConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if data is None:
        raise AccountsConfigError(f"{path}: the file is empty")
    try:
        parsed = AccountsFile.model_validate(data)
    except ValidationError as exc:
        raise AccountsConfigError(f"{path}: {describe(exc)}") from exc
    ids = [a.id for a in parsed.accounts]
    if len(set(ids)) != len(ids):
        raise AccountsConfigError(f"{path}: duplicate account ids")
    return parsed.accounts


def resolve_content_dir(path: Path, index: int, cfg: AccountConfig, root: Path) -> Path:
    """The account's content folder, which must sit under ``root`` (no ``../../etc``)."""
    content_dir = Path(cfg.content_dir)
    if not content_dir.is_absolute():
        content_dir = path.parent / content_dir
    content_dir = content_dir.resolve()
    if not content_dir.is_relative_to(root.resolve()):
        raise AccountsConfigError(
            f"{path}: accounts.{index}.content_dir: {cfg.content_dir!r} is outside {root}"
        )
    return content_dir


def import_accounts(
    conn, box: SecretBox, path: Path, *, actor: str = "cli", content_root: Path | None = None
) -> list[dict]:
    """Upsert every account of the file; returns per account which secrets were found.

    Content folders must sit under ``content_root`` (default: the accounts file's folder).
    The whole file is checked before anything is stored.
    """
    path = Path(path)
    report = []
    configs = load_accounts_file(path)
    root = content_root or path.parent
    folders = [resolve_content_dir(path, i, cfg, root) for i, cfg in enumerate(configs)]
    for position, (cfg, content_dir) in enumerate(zip(configs, folders, strict=True)):
        env_names = {
            f: getattr(cfg.credentials, f"{f}_env")
            for f in CREDENTIAL_FIELDS
            if getattr(cfg.credentials, f"{f}_env")
        }
        secrets = {f: named_secret(name) for f, name in env_names.items()}
        secrets = {f: v for f, v in secrets.items() if v}
        token = box.encrypt(json.dumps(secrets)) if secrets else None
        with conn.cursor() as cur:
            cur.execute(
                """
                INSERT INTO ig_accounts (account_id, username, position, content_dir, enabled,
                    is_new, approve_all_posts, credential_env, encrypted_credentials)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (account_id) DO UPDATE SET
                    username = EXCLUDED.username, position = EXCLUDED.position,
                    content_dir = EXCLUDED.content_dir, enabled = EXCLUDED.enabled,
                    is_new = EXCLUDED.is_new, approve_all_posts = EXCLUDED.approve_all_posts,
                    credential_env = EXCLUDED.credential_env,
                    encrypted_credentials = COALESCE(EXCLUDED.encrypted_credentials,
                                                     ig_accounts.encrypted_credentials),
                    updated_at = now()
                """,
                (
                    cfg.id,
                    cfg.username,
                    position,
                    str(content_dir),
                    cfg.flags.enabled,
                    cfg.flags.new_account,
                    cfg.flags.approve_all_posts,
                    json.dumps(env_names),
                    token,
                ),
            )
        missing = sorted(set(env_names) - set(secrets))
        report.append({"account": cfg.id, "secrets": sorted(secrets), "missing": missing})
    record_event(
        conn,
        actor=actor,
        kind="ig.accounts_imported",
        data={"file": str(path), "accounts": [r["account"] for r in report]},
    )
    return report


def _row_to_account(row) -> Account:
    return Account(row[0], row[1], row[2], Path(row[3]), row[4], row[5], row[6], row[7])


_COLUMNS = (
    "account_id, username, position, content_dir, enabled, is_new, approve_all_posts, "
    "cooldown_until"
)


def list_accounts(conn, *, enabled_only: bool = False) -> list[Account]:
    where = "WHERE enabled" if enabled_only else ""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM ig_accounts {where} ORDER BY position")
        return [_row_to_account(r) for r in cur.fetchall()]


def get_account(conn, account_id: str) -> Account:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM ig_accounts WHERE account_id = %s", (account_id,))
        row = cur.fetchone()
    if row is None:
        raise AccountsConfigError(
            f"unknown account {account_id!r}: run `lomba accounts import` first"
        )
    return _row_to_account(row)


def account_credentials(conn, box: SecretBox, account_id: str) -> dict:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT encrypted_credentials FROM ig_accounts WHERE account_id = %s", (account_id,)
        )
        row = cur.fetchone()
    if row is None or row[0] is None:
        return {}
    return json.loads(box.decrypt(row[0]))
