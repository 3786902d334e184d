"""Refuse requests whose parameters no page can store or look up, before any route runs.

A NUL character (``%00``) in the path, the query string or an urlencoded form cannot go into
Postgres (psycopg2 raises) and is never part of a real value: the answer is 400 with the name of
the parameter. Urlencoded bodies are read whole (capped at ``MAX_FORM_BYTES``, 413 above it) and
handed on unchanged.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lomba_pipeline.admin.errors import error_page

MAX_FORM_BYTES = 1_000_000
_FORBIDDEN = "\x00"


def _bad_field(pairs: list[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if _FORBIDDEN in name or _FORBIDDEN in value:
            return name.replace(_FORBIDDEN, "")[:40] or "?"
    return None


def _refuse(scope: Scope, message: str, status: int = 400):
    return error_page(Request(scope), "Permintaan tidak valid", message, status)


class HostileInputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _FORBIDDEN in scope["path"]:
            await _refuse(scope, "Alamat berisi karakter NUL.")(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        bad = _bad_field(parse_qsl(query, keep_blank_values=True))
        if bad is not None:
            await _refuse(scope, f"Parameter {bad} berisi karakter NUL.")(scope, receive, send)
            return
        content_type = Headers(scope=scope).get("content-type", "")
        if scope["method"] != "POST" or not content_type.startswith(
            "application/x-www-form-urlencoded"
        ):
            await self.app(scope, receive, send)
            return
        body, too_large = await _read_body(receive)
        if too_large:
            await _refuse(scope, "Formulir terlalu besar.", 413)(scope, receive, send)
            return
        bad = _bad_field(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        if bad is not None:
            await _refuse(scope, f"Isian {bad} berisi karakter NUL.")(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later calls wait for the disconnect, as Starlette expects

    return replay
