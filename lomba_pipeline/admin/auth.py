"""Admin users, passwords and CSRF tokens.

- Passwords: argon2id (argon2-cffi); the hash never leaves the database.
- Sessions live in Postgres (``sessions.py``); login throttling is ``throttle.py``.
- CSRF: every form posts ``csrf_token`` (or HTMX sends ``X-CSRF-Token``); a POST without the
  session's token is refused with 403.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request

from lomba_pipeline.db.events import record_event

ROLES = ("reviewer", "admin")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# verified against when the username does not exist, so both cases take the same time
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this."""


class CsrfFailed(Exception):
    pass


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def validate_new_user(username: str, password: str, role: str) -> None:
    if not USERNAME.match(username or ""):
        raise ValueError(
            "username must be 2-40 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(conn, username: str, password: str, role: str, *, actor: str = "cli") -> User:
    """Create, or reset the password and role of, an admin user.

    A reset ends every session of that user (trigger on ``password_hash`` in sql/011).
    """
    validate_new_user(username, password, role)
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO admin_users (username, password_hash, role) VALUES (%s, %s, %s)
            ON CONFLICT (username) DO UPDATE
            SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, disabled = false
            RETURNING id, (xmax = 0) AS created
            """,
            (username, _hasher.hash(password), role),
        )
        user_id, created = cur.fetchone()
    record_event(
        conn, actor=actor, kind="auth.user_created" if created else "auth.user_updated",
        subject=f"admin_user:{username}", data={"role": role},
    )
    return User(user_id, username, role)


def normalize_username(raw: str | None) -> str:
    """The form's username as stored (lower case), or "" when it cannot be a username."""
    name = (raw or "").strip().lower()
    return name if USERNAME.match(name) else ""


def authenticate(conn, username: str, password: str) -> User | None:
    """The user when the password matches (throttling is the caller's job, before this)."""
    row = None
    if username:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, username, role, password_hash FROM admin_users "
                "WHERE username = %s AND NOT disabled",
                (username,),
            )
            row = cur.fetchone()
    try:
        _hasher.verify(row[3] if row else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    with conn.cursor() as cur:
        cur.execute("UPDATE admin_users SET last_login_at = now() WHERE id = %s", (row[0],))
        if _hasher.check_needs_rehash(row[3]):
            # a new hash of the same password: tell the trigger in sql/011 that this is not a
            # password change, so the user's other sessions stay
            cur.execute("SET LOCAL lomba.same_password = 'on'")
            cur.execute(
                "UPDATE admin_users SET password_hash = %s WHERE id = %s",
                (_hasher.hash(password), row[0]),
            )
    return User(row[0], row[1], row[2])


def disable_user(conn, username: str, *, actor: str = "cli") -> bool:
    """Disable the account; its sessions end at once (trigger in sql/011). False if unknown."""
    with conn.cursor() as cur:
        cur.execute("UPDATE admin_users SET disabled = true WHERE username = %s RETURNING id",
                    (username,))
        found = cur.fetchone() is not None
    if found:
        record_event(conn, actor=actor, kind="auth.user_disabled",
                     subject=f"admin_user:{username}")
    return found


def load_user(conn, user_id: int) -> User | None:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, username, role FROM admin_users WHERE id = %s AND NOT disabled", (user_id,)
        )
        row = cur.fetchone()
    return User(*row) if row else None


# -- session & CSRF --------------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if not sent:
        form = await request.form()
        sent = form.get("csrf_token")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(
        expected.encode(), sent.encode("utf-8", "surrogatepass")
    ):
        raise CsrfFailed()
