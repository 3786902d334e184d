"""The client address of a request, for login throttling.

``X-Forwarded-For`` is believed only when the direct peer is one of the configured trusted
proxies (``LOMBA_ADMIN_TRUSTED_PROXIES``); otherwise anyone could pick a new address per attempt.
Behind trusted proxies the client is the right-most address that is not itself a trusted proxy
(the one the outermost trusted proxy saw); entries left of it are whatever the client sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted(address, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_address(request: HTTPConnection, trusted: tuple[Network, ...] = ()) -> str:
    peer = request.client.host if request.client else "unknown"
    if not _is_trusted(_address(peer), trusted):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for")
            for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage the proxies did not write: do not let it pick a bucket
        if not _is_trusted(address, trusted):
            return str(address)
    return peer
