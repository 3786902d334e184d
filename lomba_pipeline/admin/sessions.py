"""Server-side sessions of the admin panel.

The session cookie holds only a random id (256 bits); the session itself is a row in
``admin_sessions`` keyed by the id's SHA-256, holding the user, the CSRF token and flash messages.
Deleting the row revokes the session at once: logout does it, and a database trigger does it for
every session of a user whose password changes or who is disabled. A session also ends after
``idle_seconds`` without a request and ``max_seconds`` after sign-in, whichever comes first.

Before sign-in there is no row: the login form's CSRF token travels in a separate cookie and must
come back in the form (double submit), so anonymous visitors cannot fill the table.

``ServerSessionMiddleware`` provides ``request.session`` (a dict) to the routes, as Starlette's
cookie sessions did, and writes it back when a route changed it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg2.extras import Json
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lomba_pipeline.admin.auth import User
from lomba_pipeline.admin.errors import database_unavailable_response, is_database_unavailable

log = logging.getLogger(__name__)

SESSION_COOKIE = "lomba_admin"
LOGIN_CSRF_COOKIE = "lomba_admin_login"
STATE_KEY = "lomba.session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
# pages that never need a session: served without touching the database
_SESSIONLESS_PREFIXES = ("/static/", "/media/", "/health")


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: int = 2 * 3600
    max_seconds: int = 12 * 3600
    secure_cookie: bool = False


@dataclass
class SessionState:
    """This request's session as the middleware found it (``request.scope[STATE_KEY]``)."""

    sid: str | None = None
    user: User | None = None
    saved: str = "{}"  # the data as stored, so only a change is written back
    started: bool = False
    ended: bool = False
    stale_cookie: bool = False


def _digest(sid: str) -> bytes:
    return hashlib.sha256(sid.encode()).digest()


def _dump(data: dict) -> str:
    return json.dumps(data, sort_keys=True, default=str)


# -- the table -------------------------------------------------------------------------------

def create_session(conn, user_id: int, *, data: dict, client: str, now: datetime,
                   policy: SessionPolicy) -> str:
    """A new session row; returns the id that goes in the cookie (never stored as such)."""
    sid = secrets.token_urlsafe(32)
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM admin_sessions WHERE expires_at <= %(now)s "
            "OR last_seen_at <= %(idle_before)s",
            {"now": now, "idle_before": now - timedelta(seconds=policy.idle_seconds)},
        )
        cur.execute(
            """
            INSERT INTO admin_sessions (id_hash, user_id, data, client, created_at, last_seen_at,
                                        expires_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            """,
            (_digest(sid), user_id, Json(data), client[:100], now, now,
             now + timedelta(seconds=policy.max_seconds)),
        )
    return sid


def load_session(conn, sid: str, *, now: datetime,
                 policy: SessionPolicy) -> tuple[User, dict] | None:
    """The live session's user and data (and marks it seen), or None when revoked/expired."""
    with conn.cursor() as cur:
        cur.execute(
            """
            UPDATE admin_sessions s SET last_seen_at = %(now)s
            FROM admin_users u
            WHERE s.id_hash = %(id)s AND u.id = s.user_id AND NOT u.disabled
              AND s.expires_at > %(now)s AND s.last_seen_at > %(idle_before)s
            RETURNING u.id, u.username, u.role, s.data
            """,
            {"id": _digest(sid), "now": now,
             "idle_before": now - timedelta(seconds=policy.idle_seconds)},
        )
        row = cur.fetchone()
    if row is None:
        return None
    return User(row[0], row[1], row[2]), dict(row[3] or {})


def save_session_data(conn, sid: str, data: dict) -> None:
    with conn.cursor() as cur:
        cur.execute("UPDATE admin_sessions SET data = %s WHERE id_hash = %s",
                    (Json(data), _digest(sid)))


def delete_session(conn, sid: str) -> None:
    with conn.cursor() as cur:
        cur.execute("DELETE FROM admin_sessions WHERE id_hash = %s", (_digest(sid),))


# -- used by the login and logout routes ----------------------------------------------------

def start_session(request: Request, conn, user: User, *, client: str) -> None:
    """Sign ``user`` in: a fresh session id and CSRF token (the old session, if any, ends)."""
    state: SessionState = request.scope[STATE_KEY]
    if state.sid:
        delete_session(conn, state.sid)
    data = {"csrf": secrets.token_urlsafe(32)}
    state.sid = create_session(conn, user.id, data=data, client=client,
                               now=request.app.state.clock(),
                               policy=request.app.state.session_policy)
    state.user, state.started, state.ended, state.saved = user, True, False, _dump(data)
    request.session.clear()
    request.session.update(data)


def end_session(request: Request, conn) -> None:
    state: SessionState = request.scope[STATE_KEY]
    if state.sid:
        delete_session(conn, state.sid)
    state.sid, state.user, state.ended = None, None, True
    request.session.clear()


def session_user(request: HTTPConnection) -> User | None:
    state = request.scope.get(STATE_KEY)
    return state.user if state else None


# -- the middleware ----------------------------------------------------------------------------

def _cookie(name: str, value: str, policy: SessionPolicy, max_age: int | None) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.insert(2, f"Max-Age={max_age}")
    if policy.secure_cookie:
        parts.append("Secure")
    return "; ".join(parts)


class ServerSessionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = SessionState()
        scope[STATE_KEY] = state
        if scope["path"].startswith(_SESSIONLESS_PREFIXES):
            scope["session"] = {}
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        app_state = scope["app"].state
        policy: SessionPolicy = app_state.session_policy
        cookie = connection.cookies.get(SESSION_COOKIE, "")
        login_csrf = connection.cookies.get(LOGIN_CSRF_COOKIE, "")
        data: dict = {}
        if cookie:
            if _TOKEN.match(cookie):
                try:
                    loaded = await run_in_threadpool(self._load, app_state, cookie, policy)
                except Exception as exc:
                    if not is_database_unavailable(exc):
                        raise
                    await database_unavailable_response(Request(scope))(scope, receive, send)
                    return
            else:
                loaded = None
            if loaded is None:
                state.stale_cookie = True
            else:
                state.sid, (state.user, data) = cookie, loaded
                state.saved = _dump(data)
        if state.sid is None and _TOKEN.match(login_csrf):
            data = {"csrf": login_csrf}
        scope["session"] = data

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                await self._write_back(app_state, state, data, headers, policy, login_csrf)
            await send(message)

        await self.app(scope, receive, send_with_session)

    @staticmethod
    def _load(app_state, sid: str, policy: SessionPolicy):
        with app_state.postgres.connection() as conn:
            return load_session(conn, sid, now=app_state.clock(), policy=policy)

    @staticmethod
    async def _write_back(app_state, state: SessionState, data: dict, headers: MutableHeaders,
                          policy: SessionPolicy, login_csrf: str) -> None:
        if state.started:
            headers.append("set-cookie", _cookie(SESSION_COOKIE, state.sid, policy,
                                                 policy.max_seconds))
            headers.append("set-cookie", _cookie(LOGIN_CSRF_COOKIE, "", policy, 0))
        elif state.ended or state.stale_cookie:
            headers.append("set-cookie", _cookie(SESSION_COOKIE, "", policy, 0))
        if state.sid and not state.ended:
            current = _dump(data)
            if current != state.saved:
                try:
                    await run_in_threadpool(_save, app_state, state.sid, data)
                    state.saved = current
                except Exception:  # a lost flash message must not turn a done action into a 500
                    log.warning("admin session data not saved", exc_info=True)
        elif data.get("csrf") and data["csrf"] != login_csrf:
            headers.append("set-cookie", _cookie(LOGIN_CSRF_COOKIE, data["csrf"], policy, None))


def _save(app_state, sid: str, data: dict) -> None:
    with app_state.postgres.connection() as conn:
        save_session_data(conn, sid, data)
