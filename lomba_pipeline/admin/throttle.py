"""Login throttling: a progressive delay per (username, client) and per client.

Every attempt first *reserves* its place in two buckets, ``user:<name>|<client>`` and
``client:<client>``, each a row in ``admin_login_throttle`` locked for the reservation. The
reservation counts the attempt as a failure in advance and sets when the next attempt may come:
free for the first ``free_*`` attempts, then ``base_delay * 2^n`` up to ``max_delay``. So parallel
requests cannot all slip past the check (30 at once get at most ``free_per_user_client`` password
checks), and a username is never locked: only that client waits, and a success clears its bucket.
Throttled attempts only bump a counter; they write no event (the username is attacker-chosen).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    free_per_user_client: int = 5
    free_per_client: int = 20
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 15 * 60
    # a bucket quiet this long starts again from zero; much longer than max_delay, or waiting out
    # the longest delay would buy a guesser a fresh set of free attempts
    forget_after_seconds: float = 24 * 3600

    def delay_after(self, attempts: int, free: int) -> float:
        """Seconds to wait after the ``attempts``-th attempt (0 while attempts are free)."""
        if attempts < free:
            return 0.0
        return min(self.base_delay_seconds * 2 ** min(attempts - free, 30), self.max_delay_seconds)


def client_key(client: str) -> str:
    """IPv6 clients count per /64: one subscriber usually holds a whole /64."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client[:100]
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _buckets(username: str, client: str, policy: ThrottlePolicy) -> list[tuple[str, int]]:
    client = client_key(client)
    # always locked in this order, so two reservations never wait on each other in a cycle
    return sorted([(f"client:{client}", policy.free_per_client),
                   (f"user:{username}|{client}", policy.free_per_user_client)])


def reserve_attempt(conn, username: str, client: str, *, now: datetime,
                    policy: ThrottlePolicy) -> int | None:
    """Count one login attempt (None), or return the seconds to wait (counted as throttled only).

    Commit the caller's transaction before checking the password, so the row locks are held only
    for the reservation.
    """
    forget_before = now - timedelta(seconds=policy.forget_after_seconds)
    rows = []
    with conn.cursor() as cur:
        for bucket, free in _buckets(username, client, policy):
            cur.execute(
                "INSERT INTO admin_login_throttle (bucket, last_attempt_at, next_allowed_at) "
                "VALUES (%s, %s, %s) ON CONFLICT (bucket) DO NOTHING",
                (bucket, now, now),
            )
            cur.execute(
                "SELECT attempts, last_attempt_at, next_allowed_at FROM admin_login_throttle "
                "WHERE bucket = %s FOR UPDATE",
                (bucket,),
            )
            attempts, last_attempt_at, next_allowed_at = cur.fetchone()
            if last_attempt_at < forget_before and next_allowed_at <= now:
                attempts = 0
            rows.append((bucket, free, attempts, next_allowed_at))
        waiting = [next_allowed for _b, _f, _a, next_allowed in rows if next_allowed > now]
        if waiting:
            cur.execute(
                "UPDATE admin_login_throttle SET throttled = throttled + 1 "
                "WHERE bucket = ANY(%s) AND next_allowed_at > %s",
                ([bucket for bucket, *_ in rows], now),
            )
            return max(1, math.ceil((max(waiting) - now).total_seconds()))
        for bucket, free, attempts, _next in rows:
            delay = policy.delay_after(attempts + 1, free)
            cur.execute(
                "UPDATE admin_login_throttle SET attempts = %s, last_attempt_at = %s, "
                "next_allowed_at = %s WHERE bucket = %s",
                (attempts + 1, now, now + timedelta(seconds=delay), bucket),
            )
    return None


def forget_failures(conn, username: str, client: str, *, now: datetime,
                    policy: ThrottlePolicy) -> None:
    """After a successful login: this user's bucket is cleared, the client's gets one back,
    and buckets quiet for longer than ``forget_after_seconds`` are dropped (the table stays small).
    """
    client = client_key(client)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM admin_login_throttle WHERE bucket = %s",
                    (f"user:{username}|{client}",))
        cur.execute(
            "UPDATE admin_login_throttle SET attempts = greatest(attempts - 1, 0) "
            "WHERE bucket = %s", (f"client:{client}",),
        )
        cur.execute(
            "DELETE FROM admin_login_throttle WHERE last_attempt_at < %s AND next_allowed_at <= %s",
            (now - timedelta(seconds=policy.forget_after_seconds), now),
        )
