"""The one outbound-fetch policy for URLs that come from third-party content.

Scraped pages, card links, poster links and Instagram media URLs are written by strangers, so a
fetch of one of them must never reach this machine's or this network's services:

- only ``http``/``https`` URLs with a host and no credentials;
- the host is resolved once, every address is checked (loopback, private, link-local, multicast,
  reserved, unspecified, shared and IPv4-mapped/6to4/Teredo forms of those are refused), and the
  connection is made to the checked address (the TLS name and ``Host`` stay the URL's host), so a
  second DNS answer cannot swap in an internal address (DNS rebinding);
- redirects are followed here, one hop at a time, each hop checked again, at most
  ``max_redirects``;
- one total deadline per download (every socket read and write is clamped to what is left of it,
  so a server dripping a byte every few seconds ends at the deadline) and a byte cap on the body.

The only way past the address check is the explicit allow-list (``LOMBA_FETCH_ALLOW_HOSTS``):
``host`` or ``host:port`` entries allow that URL host even though it resolves to an internal
address, and ``name=ip:port`` entries serve a fixed host name from a fixed address (the demo's
``*.demo.test`` names on its loopback port, so a changed port never changes a stored URL).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import dagster as dg
import httpcore
import httpx

SCHEMES = ("http", "https")
DEFAULT_DEADLINE_SECONDS = 20.0
DEFAULT_MAX_REDIRECTS = 5
REDIRECT_CODES = {301, 302, 303, 307, 308}
ALLOW_SETTING = "LOMBA_FETCH_ALLOW_HOSTS"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


# -- errors -----------------------------------------------------------------------------------
class OutboundError(RuntimeError):
    """A fetch of ``url`` did not produce a body; ``reason`` says why (no secrets, no body)."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class OutboundRefused(OutboundError):
    """The policy refused the destination (scheme, address, redirect count); retrying is useless."""


class OutboundTooLarge(OutboundError):
    """The body is larger than the byte cap."""


class OutboundDeadline(OutboundError):
    """The download did not finish within its total deadline."""


class OutboundFailed(OutboundError):
    """Network or protocol failure (refused connection, unknown name, broken answer)."""


class AllowListError(ValueError):
    """``LOMBA_FETCH_ALLOW_HOSTS`` has an entry that cannot be read; the message names it."""


# -- addresses --------------------------------------------------------------------------------
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: internal, not "private"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_problem(address: Address) -> str | None:
    """Why ``address`` must not be fetched from, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{inner} (embedded in {address})" if inner else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("shared (carrier NAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("non-global", not address.is_global),
    )
    name = next((name for name, hit in checks if hit), None)
    if name is None:
        return None
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} address"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, as a socket would use it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


# -- the policy -------------------------------------------------------------------------------
def _split_host_port(text: str, entry: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else (rest or None)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    host = host.strip().lower().rstrip(".")
    if not host:
        raise AllowListError(f"{ALLOW_SETTING}: entry {entry!r} has no host")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AllowListError(f"{ALLOW_SETTING}: entry {entry!r} has no valid port")
    return host, int(port_text)


@dataclass(frozen=True)
class OutboundPolicy:
    """What third-party URLs may be fetched, and how long and how much a download may take."""

    allowed: frozenset[tuple[str, int | None]] = frozenset()
    mapped: tuple[tuple[str, str, int], ...] = ()  # (name, ip, port): fixed names, e.g. demo
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)

    @classmethod
    def from_setting(cls, allow_hosts: str | None, **kwargs) -> OutboundPolicy:
        """Parse ``LOMBA_FETCH_ALLOW_HOSTS``: entries separated by commas or spaces, each
        ``host``, ``host:port``, ``[v6]:port`` or ``name=ip:port``."""
        allowed, mapped = set(), []
        for entry in (allow_hosts or "").replace(",", " ").split():
            name, sep, target = entry.partition("=")
            if sep:
                ip_text, port = _split_host_port(target, entry)
                try:
                    ipaddress.ip_address(ip_text)
                except ValueError:
                    raise AllowListError(
                        f"{ALLOW_SETTING}: entry {entry!r} must map a name to an IP address"
                    ) from None
                if port is None:
                    raise AllowListError(f"{ALLOW_SETTING}: entry {entry!r} needs a port")
                mapped.append((_split_host_port(name, entry)[0], ip_text, port))
            else:
                allowed.add(_split_host_port(entry, entry))
        return cls(allowed=frozenset(allowed), mapped=tuple(mapped), **kwargs)

    def with_mapped(self, names: dict[str, tuple[str, int]]) -> OutboundPolicy:
        """A copy that also serves each ``name`` from its fixed ``(ip, port)``."""
        extra = tuple((n.lower(), ip, port) for n, (ip, port) in names.items())
        return OutboundPolicy(
            self.allowed, self.mapped + extra, self.deadline_seconds, self.max_redirects,
            self.resolver,
        )

    def as_setting(self) -> str:
        """The allow-list in ``LOMBA_FETCH_ALLOW_HOSTS`` form (for a child process)."""

        def hp(host: str, port: int | None) -> str:
            host = f"[{host}]" if ":" in host and port is not None else host
            return host if port is None else f"{host}:{port}"

        plain = [hp(h, p) for h, p in sorted(self.allowed, key=lambda e: (e[0], e[1] or 0))]
        return " ".join(plain + [f"{n}={hp(ip, port)}" for n, ip, port in self.mapped])

    def check_url(self, url: str) -> httpx.URL:
        """The URL parsed, if it is one this policy would fetch at all (no DNS yet)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise OutboundRefused(str(url)[:200], "not a valid URL") from None
        if parsed.scheme not in SCHEMES:
            raise OutboundRefused(str(url)[:200], f"only http(s) is fetched, not {parsed.scheme!r}")
        try:
            host = parsed.host  # decodes punycode: "xn--" labels that are not valid IDNA fail
        except UnicodeError:
            raise OutboundRefused(str(url)[:200], "the host is not a valid domain name") from None
        if not host:
            raise OutboundRefused(str(url)[:200], "the URL has no host")
        if parsed.userinfo:
            raise OutboundRefused(str(url)[:200], "credentials in a URL are not fetched")
        return parsed

    def destinations(self, host: str, port: int) -> list[tuple[str, int]]:
        """The checked ``(ip, port)`` pairs to connect to for ``host:port``; raises
        ``OutboundRefused`` if any address the name resolves to is internal (and not allowed)."""
        host = host.strip("[]").lower().rstrip(".")
        for name, ip, mapped_port in self.mapped:
            if name == host:
                return [(ip, mapped_port)]
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise OutboundFailed(host, f"name not resolved ({type(exc).__name__})") from None
        if not addresses:
            raise OutboundFailed(host, "name not resolved (no address)")
        if (host, port) in self.allowed or (host, None) in self.allowed:
            return [(a, port) for a in addresses]
        for text in addresses:
            problem = address_problem(ipaddress.ip_address(text.split("%")[0]))
            if problem:
                shown = host if host == text else f"{host} resolves to {text}, which"
                raise OutboundRefused(f"{host}:{port}", f"refused: {shown} is {problem}")
        return [(a, port) for a in addresses]


# -- a deadline every socket operation honours ----------------------------------------------
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("outbound_deadline",
                                                                           default=None)


def _clamped(timeout: float | None) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("total deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _clamped(timeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _AsyncDeadlineStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream):
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _clamped(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _clamped(timeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _AsyncDeadlineStream(
            await self._inner.start_tls(ssl_context, server_hostname, _clamped(timeout))
        )

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


# -- network backends that dial only checked addresses ----------------------------------------
# getaddrinfo cannot be interrupted: lookups run here so that a hanging DNS answer still ends the
# download at its deadline (the stuck lookup finishes or fails on its own)
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="outbound-dns")


def _destinations_within(policy: OutboundPolicy, host: str, port: int, timeout):
    future = _LOOKUPS.submit(policy.destinations, host, port)
    try:
        return future.result(timeout=_clamped(timeout))
    except concurrent.futures.TimeoutError:
        raise httpcore.ConnectTimeout(f"{host}: name not resolved in time") from None


class _CheckedBackend(httpcore.NetworkBackend):
    def __init__(self, policy: OutboundPolicy):
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last: Exception | None = None
        for ip, real_port in _destinations_within(self._policy, host, port, timeout):
            try:
                stream = self._inner.connect_tcp(
                    ip, real_port, _clamped(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:  # try the next checked address
                last = exc
                continue
            return _DeadlineStream(stream)
        raise last or httpcore.ConnectError(f"could not connect to {host}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundRefused(path, "unix sockets are never dialled for outside content")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncCheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: OutboundPolicy):
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None,
                          socket_options=None):
        with anyio.fail_after(_clamped(timeout)):
            # the resolver blocks: run it off the event loop, bounded by the deadline
            targets = await anyio.to_thread.run_sync(
                self._policy.destinations, host, port, abandon_on_cancel=True
            )
        last: Exception | None = None
        for ip, real_port in targets:
            try:
                stream = await self._inner.connect_tcp(
                    ip, real_port, _clamped(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
                continue
            return _AsyncDeadlineStream(stream)
        raise last or httpcore.ConnectError(f"could not connect to {host}")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundRefused(path, "unix sockets are never dialled for outside content")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pool_kwargs(max_connections: int) -> dict:
    return {
        "ssl_context": httpx.create_ssl_context(trust_env=False),
        "max_connections": max_connections,
        "max_keepalive_connections": max_connections,
        "http1": True,
        "http2": False,
    }


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, policy: OutboundPolicy, max_connections: int):
        super().__init__(trust_env=False)
        # httpx has no network_backend argument: swap in a pool that dials through the policy
        self._pool = httpcore.ConnectionPool(
            network_backend=_CheckedBackend(policy), **_pool_kwargs(max_connections)
        )


class _AsyncCheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: OutboundPolicy, max_connections: int):
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=_AsyncCheckedBackend(policy), **_pool_kwargs(max_connections)
        )


# -- clients ----------------------------------------------------------------------------------
@dataclass
class Fetched:
    url: str  # after redirects
    status: int
    headers: httpx.Headers
    body: bytes
    redirects: list[str] = field(default_factory=list)


Accept = Callable[[httpx.Response], None]  # raises OutboundError to refuse a response early


def _next_hop(policy: OutboundPolicy, current: httpx.URL, response: httpx.Response,
              method: str, content):
    """``(url, method, content)`` of the redirect target, or None if this is the answer."""
    location = response.headers.get("location")
    if response.status_code not in REDIRECT_CODES or not location:
        return None
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError):
        raise OutboundRefused(str(current), f"redirect to an invalid URL {location[:100]!r}") from None
    try:
        policy.check_url(str(target))
    except OutboundRefused as exc:
        raise OutboundRefused(f"redirect to {exc.url}", exc.reason) from None
    if response.status_code == 303 and method != "HEAD" or (
        response.status_code in {301, 302} and method == "POST"
    ):
        method, content = "GET", None
    return target, method, content


def _too_large(url: str, response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise OutboundTooLarge(url, f"too large ({declared} bytes > {max_bytes})")


def _failure(url: str, exc: Exception, deadline: float, seconds: float) -> OutboundError:
    if isinstance(exc, httpx.TimeoutException) and time.monotonic() >= deadline - 0.05:
        return OutboundDeadline(url, f"no complete answer within the {seconds:g} s deadline")
    text = str(exc).strip().splitlines()[0][:150] if str(exc).strip() else ""
    return OutboundFailed(url, f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _named(exc: OutboundError, url: str, hops: list[str]) -> OutboundError:
    """The error as seen by the caller: named by the URL it asked for, with the redirect hop."""
    if exc.url == url:
        return exc
    where = f"after {len(hops)} redirect(s), " if hops else ""
    return type(exc)(url, f"{where}{exc.url}: {exc.reason}")


class OutboundClient:
    """Blocking fetches under a policy (the poster fetcher); safe to share between threads."""

    def __init__(self, policy: OutboundPolicy, headers: dict | None = None,
                 max_connections: int = 10):
        self.policy = policy
        self._client = httpx.Client(
            transport=_CheckedTransport(policy, max_connections),
            follow_redirects=False,
            trust_env=False,
            timeout=policy.deadline_seconds,
            headers=headers,
        )

    def fetch(self, url: str, *, max_bytes: int, method: str = "GET", headers=None,
              content: bytes | None = None, accept: Accept | None = None,
              deadline_seconds: float | None = None) -> Fetched:
        seconds = min(deadline_seconds or self.policy.deadline_seconds,
                      self.policy.deadline_seconds)
        deadline = time.monotonic() + seconds
        token = _DEADLINE.set(deadline)
        hops: list[str] = []
        try:
            current = self.policy.check_url(url)
            for _ in range(self.policy.max_redirects + 1):
                with self._client.stream(method, current, headers=headers,
                                         content=content) as response:
                    hop = _next_hop(self.policy, current, response, method, content)
                    if hop is None:
                        _too_large(url, response, max_bytes)
                        if accept:
                            accept(response)
                        body = bytearray()
                        for chunk in response.iter_bytes():
                            body.extend(chunk)
                            if len(body) > max_bytes:
                                raise OutboundTooLarge(url, f"too large (> {max_bytes} bytes)")
                        return Fetched(str(current), response.status_code, response.headers,
                                       bytes(body), hops)
                hops.append(str(current))
                current, method, content = hop
            raise OutboundRefused(url, f"more than {self.policy.max_redirects} redirects")
        except OutboundError as exc:
            raise _named(exc, url, hops) from None
        except (httpx.HTTPError, httpcore.ReadTimeout) as exc:
            raise _named(_failure(url, exc, deadline, seconds), url, hops) from None
        finally:
            _DEADLINE.reset(token)

    def close(self) -> None:
        self._client.close()


class AsyncOutboundClient:
    """The same fetch for asyncio code (the crawler's HTTP client)."""

    def __init__(self, policy: OutboundPolicy, headers: dict | None = None,
                 max_connections: int = 10):
        self.policy = policy
        self._client = httpx.AsyncClient(
            transport=_AsyncCheckedTransport(policy, max_connections),
            follow_redirects=False,
            trust_env=False,
            timeout=policy.deadline_seconds,
            headers=headers,
        )

    async def fetch(self, url: str, *, max_bytes: int, method: str = "GET", headers=None,
                    content: bytes | None = None, accept: Accept | None = None,
                    deadline_seconds: float | None = None) -> Fetched:
        seconds = min(deadline_seconds or self.policy.deadline_seconds,
                      self.policy.deadline_seconds)
        deadline = time.monotonic() + seconds
        token = _DEADLINE.set(deadline)
        hops: list[str] = []
        try:
            current = self.policy.check_url(url)
            for _ in range(self.policy.max_redirects + 1):
                async with self._client.stream(method, current, headers=headers,
                                               content=content) as response:
                    hop = _next_hop(self.policy, current, response, method, content)
                    if hop is None:
                        _too_large(url, response, max_bytes)
                        if accept:
                            accept(response)
                        body = bytearray()
                        async for chunk in response.aiter_bytes():
                            body.extend(chunk)
                            if len(body) > max_bytes:
                                raise OutboundTooLarge(url, f"too large (> {max_bytes} bytes)")
                        return Fetched(str(current), response.status_code, response.headers,
                                       bytes(body), hops)
                hops.append(str(current))
                current, method, content = hop
            raise OutboundRefused(url, f"more than {self.policy.max_redirects} redirects")
        except OutboundError as exc:
            raise _named(exc, url, hops) from None
        except (httpx.HTTPError, httpcore.ReadTimeout, TimeoutError) as exc:
            raise _named(_failure(url, exc, deadline, seconds), url, hops) from None
        finally:
            _DEADLINE.reset(token)

    async def aclose(self) -> None:
        await self._client.aclose()


# -- the Dagster resource ---------------------------------------------------------------------
class OutboundFetch(dg.ConfigurableResource):
    """The outbound-fetch policy as a resource (key ``outbound``): the crawler and the poster
    fetcher of every run are built from it. ``allow_hosts`` is ``LOMBA_FETCH_ALLOW_HOSTS``."""

    allow_hosts: str = ""
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    max_redirects: int = DEFAULT_MAX_REDIRECTS

    def policy(self) -> OutboundPolicy:
        return OutboundPolicy.from_setting(
            self.allow_hosts,
            deadline_seconds=self.deadline_seconds,
            max_redirects=self.max_redirects,
        )


def outbound_from_settings(settings) -> OutboundFetch:
    return OutboundFetch(
        allow_hosts=settings.fetch.allow_hosts or "",
        deadline_seconds=settings.fetch.deadline_seconds,
    )

