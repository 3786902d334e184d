"""Keeping an account's Instagram Graph API long-lived token alive.

Meta's long-lived Instagram user tokens last 60 days; ``GET /refresh_access_token`` (grant type
``ig_refresh_token``) gives a new one once the current token is at least 24 hours old and not yet
expired. The token in use and its expiry live encrypted in ``ig_graph_tokens``; a refresh happens
when an operation that posts opens the account's gateway and the token is due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from lomba_pipeline.db.events import record_event, record_pipeline_event
from lomba_pipeline.db.ig_graph_tokens import GraphToken, current_token, save_refreshed
from lomba_pipeline.secrets_box import SecretBox

# Refresh once fewer than this many days are left. The morning post opens the gateway every day,
# so a refresh that fails (Meta down, network) is tried again on each of the next ~10 days before
# the token expires; refreshing earlier would only spend calls.
REFRESH_WITHIN = timedelta(days=10)
# Meta refuses to refresh a token younger than this (documented for refresh_access_token)
MIN_TOKEN_AGE = timedelta(hours=24)


def refresh_due(token: GraphToken, now: datetime) -> bool:
    """Due when old enough to be refreshed and near its expiry, or of unknown expiry (a token
    just imported: its first refresh tells when it expires)."""
    if now - token.obtained_at < MIN_TOKEN_AGE:
        return False
    return token.expires_at is None or token.expires_at - now <= REFRESH_WITHIN


def fix_hint(account: str) -> str:
    return (
        f"create a new long-lived token for {account}, put it in the env var that accounts.yaml "
        "names (graph_access_token_env) and run `lomba accounts import`"
    )


def fresh_graph_token(
    postgres,
    box: SecretBox,
    account: str,
    imported: str,
    now: datetime | None,
    refresh: Callable[[str], tuple[str, int]],
) -> str:
    """The token to call the Graph API with, refreshed first when due (``now`` given).

    ``refresh(token) -> (new token, expires_in seconds)`` raises on failure; a failed refresh is
    recorded as ``ig.graph_token_refresh_failed`` naming the account, and the current token
    stays in use (it may still be valid for days).
    """
    with postgres.connection() as conn:
        current = current_token(conn, box, account, imported, now)
    if now is None or not refresh_due(current, now):
        return current.token
    try:
        token, expires_in = refresh(current.token)
    except Exception as exc:  # any failure: keep posting with the current token, say so
        record_pipeline_event(
            postgres,
            kind="ig.graph_token_refresh_failed",
            subject=f"account:{account}",
            data={
                "error": str(exc)[:500],
                "expires_at": current.expires_at,
                "fix": fix_hint(account),
            },
        )
        return current.token
    expires_at = now + timedelta(seconds=expires_in)
    with postgres.connection() as conn:
        save_refreshed(conn, box, account, token, expires_at, now)
        record_event(
            conn,
            actor="pipeline",
            kind="ig.graph_token_refreshed",
            subject=f"account:{account}",
            data={"expires_at": expires_at},
        )
    return token
