"""Graph API long-lived tokens in use (table ``ig_graph_tokens``, token encrypted)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from lomba_pipeline.secrets_box import SecretBox


@dataclass(frozen=True)
class GraphToken:
    token: str = field(repr=False)
    expires_at: datetime | None
    obtained_at: datetime


def imported_fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def current_token(
    conn, box: SecretBox, account_id: str, imported: str, now: datetime | None
) -> GraphToken:
    """The token in use for the account: the last refreshed one, unless the token imported from
    accounts.yaml changed since (then the new imported one, its expiry unknown)."""
    fingerprint = imported_fingerprint(imported)
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO ig_graph_tokens (account_id, encrypted_token, obtained_at, imported_sha256)
            VALUES (%s, %s, COALESCE(%s, now()), %s)
            ON CONFLICT (account_id) DO UPDATE SET
                encrypted_token = EXCLUDED.encrypted_token, expires_at = NULL,
                obtained_at = EXCLUDED.obtained_at, imported_sha256 = EXCLUDED.imported_sha256,
                updated_at = now()
            WHERE ig_graph_tokens.imported_sha256 <> EXCLUDED.imported_sha256
            """,
            (account_id, box.encrypt(imported), now, fingerprint),
        )
        cur.execute(
            "SELECT encrypted_token, expires_at, obtained_at FROM ig_graph_tokens"
            " WHERE account_id = %s",
            (account_id,),
        )
        encrypted, expires_at, obtained_at = cur.fetchone()
    return GraphToken(box.decrypt(encrypted), expires_at, obtained_at)


def save_refreshed(
    conn, box: SecretBox, account_id: str, token: str, expires_at: datetime, now: datetime
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_graph_tokens SET encrypted_token = %s, expires_at = %s, obtained_at = %s,"
            " updated_at = now() WHERE account_id = %s",
            (box.encrypt(token), expires_at, now, account_id),
        )
