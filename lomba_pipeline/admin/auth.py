"""Admin users, sessions, CSRF tokens and login throttling.

- Passwords: argon2id (argon2-cffi); the hash never leaves the database.
- Sessions: Starlette's signed cookie (itsdangerous), HttpOnly, SameSite=Lax, signed with
  ``settings.admin_secret_key``; it holds the user id and a CSRF token, nothing secret.
- CSRF: every form posts ``csrf_token`` (or HTMX sends ``X-CSRF-Token``); a POST without the
  session's token is refused with 403.
- Throttling: failed logins are counted in Postgres (shared by every admin process); after
  ``MAX_FAILURES_PER_USER`` in ``THROTTLE_WINDOW`` for one username, or ``MAX_FAILURES_PER_CLIENT``
  from one client, logins are refused until the window passes.
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
THROTTLE_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20

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
    """Create, or reset the password and role of, an admin user."""
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


def _recent_failures(cur, column: str, value: str) -> int:
    cur.execute(
        f"SELECT count(*) FROM admin_login_failures WHERE {column} = %s "
        "AND at > now() - make_interval(secs => %s)",
        (value, THROTTLE_WINDOW_SECONDS),
    )
    return cur.fetchone()[0]


def is_throttled(conn, username: str, client: str) -> bool:
    with conn.cursor() as cur:
        return (
            _recent_failures(cur, "username", username) >= MAX_FAILURES_PER_USER
            or _recent_failures(cur, "client", client) >= MAX_FAILURES_PER_CLIENT
        )


def authenticate(conn, username: str, password: str, client: str) -> User | None:
    """The user when the password matches; records the failure otherwise."""
    username = (username or "").strip().lower()[:40]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, username, role, password_hash FROM admin_users "
            "WHERE username = %s AND NOT disabled",
            (username,),
        )
        row = cur.fetchone()
    try:
        _hasher.verify(row[3] if row else _DUMMY_HASH, password or "")
        ok = row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    with conn.cursor() as cur:
        if not ok:
            cur.execute(
                "INSERT INTO admin_login_failures (username, client) VALUES (%s, %s)",
                (username, client),
            )
            # keep the table small: only the throttling window matters
            cur.execute("DELETE FROM admin_login_failures WHERE at < now() - interval '1 day'")
            return None
        cur.execute("DELETE FROM admin_login_failures WHERE username = %s", (username,))
        cur.execute("UPDATE admin_users SET last_login_at = now() WHERE id = %s", (row[0],))
        if _hasher.check_needs_rehash(row[3]):
            cur.execute(
                "UPDATE admin_users SET password_hash = %s WHERE id = %s",
                (_hasher.hash(password), row[0]),
            )
    return User(row[0], row[1], row[2])


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
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise CsrfFailed()


def start_session(request: Request, user: User) -> None:
    request.session.clear()
    request.session["uid"] = user.id
    request.session["csrf"] = secrets.token_urlsafe(32)  # fresh token after login


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
