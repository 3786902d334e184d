"""Base for local fake HTTP servers that real SDKs and clients talk to.

A fake subclasses ``HttpFake`` and registers routes with ``@route(METHOD, r"regex")``; handlers get
the recorded ``Call`` plus the regex groups and return ``(status, json_body)`` or a Starlette
``Response``. Every fake records what it was asked (``calls``), can be told to fail
(``fail_next``: a status code, garbage, or a hang until the client times out) and can add latency.
It serves on 127.0.0.1 through ``lomba_pipeline.local_server.LocalServer`` (uvicorn in a thread).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lomba_pipeline.local_server import LocalServer


def route(method: str, pattern: str):
    def mark(fn):
        fn._fake_route = (method.upper(), re.compile(pattern + r"$"))
        return fn

    return mark


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode(errors="replace")))


@dataclass
class Failure:
    path_contains: str
    status: int = 500
    body: Any = field(default_factory=lambda: {"error": "injected failure"})
    raw: bytes | None = None  # sent as-is (garbage) instead of JSON
    hang_seconds: float = 0.0  # sleep before answering: lets a client time out
    times: int = 1


class HttpFake:
    """Start with ``with FakeX() as fake: fake.url``."""

    def __init__(self, latency_seconds: float = 0.0):
        self.latency_seconds = latency_seconds
        self.calls: list[Call] = []
        self._failures: list[Failure] = []
        self._lock = threading.Lock()
        self._routes = [
            getattr(self, name)._fake_route + (getattr(self, name),)
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "_fake_route")
        ]
        self._server: LocalServer | None = None
        self.url = ""

    # -- scripting ---------------------------------------------------------------------------
    def fail_next(self, path_contains: str = "", **kwargs) -> None:
        with self._lock:
            self._failures.append(Failure(path_contains, **kwargs))

    def calls_to(self, path_contains: str, method: str | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if path_contains in c.path and (method is None or c.method == method.upper())
        ]

    def _take_failure(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.path_contains in path:
                    failure.times -= 1
                    if failure.times <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    # -- serving -----------------------------------------------------------------------------
    async def _record(self, request: Request) -> Call:
        """Every request is recorded, answered or refused: tests count what was asked."""
        call = Call(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        with self._lock:
            self.calls.append(call)
        return call

    async def _dispatch(self, request: Request) -> Response:
        call = await self._record(request)
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        failure = self._take_failure(call.path)
        if failure is not None:
            if failure.hang_seconds:
                await asyncio.sleep(failure.hang_seconds)
            if failure.raw is not None:
                return Response(
                    failure.raw, status_code=failure.status, media_type="application/json"
                )
            return JSONResponse(failure.body, status_code=failure.status)
        for method, pattern, handler in self._routes:
            match = pattern.match(call.path)
            if match and method == call.method:
                result = handler(call, *match.groups())
                if asyncio.iscoroutine(result):
                    result = await result
                if isinstance(result, Response):
                    return result
                status, body = result
                return JSONResponse(body, status_code=status)
        return JSONResponse({"error": f"fake has no route for {call.method} {call.path}"}, 404)

    def start(self) -> HttpFake:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=methods)])
        self._server = LocalServer(app, name=type(self).__name__).start()
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> HttpFake:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
