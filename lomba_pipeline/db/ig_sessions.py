"""Encrypted Instagram session storage (table ``ig_sessions``)."""

import json

from lomba_pipeline.secrets_box import SecretBox


def load_session(conn, box: SecretBox, username: str) -> dict | None:
    """The stored instagrapi settings for ``username``, or None."""
    with conn.cursor() as cur:
        cur.execute("SELECT encrypted_settings FROM ig_sessions WHERE username = %s", (username,))
        row = cur.fetchone()
    if row is None:
        return None
    return json.loads(box.decrypt(row[0]))


def save_session(conn, box: SecretBox, username: str, settings: dict, *, logged_in: bool) -> None:
    token = box.encrypt(json.dumps(settings))
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO ig_sessions (username, encrypted_settings, last_login_at, updated_at)
            VALUES (%s, %s, CASE WHEN %s THEN now() END, now())
            ON CONFLICT (username) DO UPDATE SET
                encrypted_settings = EXCLUDED.encrypted_settings,
                last_login_at = COALESCE(EXCLUDED.last_login_at, ig_sessions.last_login_at),
                last_error = NULL,
                updated_at = now()
            """,
            (username, token, logged_in),
        )


def record_session_error(conn, username: str, error: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE ig_sessions SET last_error = %s, updated_at = now() WHERE username = %s",
            (error[:500], username),
        )
