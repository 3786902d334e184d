"""crawlee's HTTP client, routed through the outbound-fetch policy.

Card links, "next" links and detail pages come from the sites themselves, so every crawler
request (and every redirect hop) goes through ``AsyncOutboundClient``: checked addresses only,
a total deadline and a byte cap per page. crawlee's own clients resolve names themselves, which
leaves room for DNS rebinding between a check in a pre-navigation hook and the connection.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta

from crawlee import HttpHeaders
from crawlee.http_clients import HttpClient, HttpCrawlingResult

from lomba_pipeline.resources.outbound import (
    AsyncOutboundClient,
    Fetched,
    OutboundPolicy,
    OutboundRefused,
)

PAGE_MAX_BYTES = 5 * 1024 * 1024  # a catalog page or feed; anything bigger is not a listing
BROWSER_HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
}


class _Response:
    """``Fetched`` in the shape of crawlee's ``HttpResponse`` protocol (body already read)."""

    def __init__(self, fetched: Fetched):
        self._fetched = fetched

    @property
    def http_version(self) -> str:
        return "HTTP/1.1"

    @property
    def status_code(self) -> int:
        return self._fetched.status

    @property
    def headers(self) -> HttpHeaders:
        return HttpHeaders(dict(self._fetched.headers))

    async def read(self) -> bytes:
        return self._fetched.body

    async def read_stream(self):
        yield self._fetched.body


class OutboundHttpClient(HttpClient):
    def __init__(self, policy: OutboundPolicy, max_connections: int = 10,
                 max_bytes: int = PAGE_MAX_BYTES):
        super().__init__(persist_cookies_per_session=False)
        self._policy = policy
        self._max_connections = max_connections
        self._max_bytes = max_bytes
        self._client: AsyncOutboundClient | None = None

    def _outbound(self) -> AsyncOutboundClient:
        # built lazily: the async client must belong to the crawler's event loop
        if self._client is None:
            self._client = AsyncOutboundClient(
                self._policy, headers=BROWSER_HEADERS, max_connections=self._max_connections
            )
        return self._client

    async def _fetch(self, url, method, headers, payload, timeout: timedelta | None) -> Fetched:
        return await self._outbound().fetch(
            url,
            method=method,
            headers=dict(headers or {}),
            content=payload,
            max_bytes=self._max_bytes,
            deadline_seconds=timeout.total_seconds() if timeout else None,
        )

    async def crawl(self, request, *, session=None, proxy_info=None, statistics=None,
                    timeout=None) -> HttpCrawlingResult:
        try:
            fetched = await self._fetch(
                request.url, request.method, request.headers, request.payload, timeout
            )
        except OutboundRefused:
            request.no_retry = True  # the same address is refused again on every retry
            raise
        if statistics:
            statistics.register_status_code(fetched.status)
        request.loaded_url = fetched.url
        return HttpCrawlingResult(http_response=_Response(fetched))

    async def send_request(self, url, *, method="GET", headers=None, payload=None, session=None,
                           proxy_info=None, timeout=None):
        return _Response(await self._fetch(url, method, headers, payload, timeout))

    @asynccontextmanager
    async def stream(self, url, *, method="GET", headers=None, payload=None, session=None,
                     proxy_info=None, timeout=None):
        yield _Response(await self._fetch(url, method, headers, payload, timeout))

    async def cleanup(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
