"""The pace of one account's Instagram requests, shared by every process that uses it.

instagrapi's own politeness sleeps before EVERY request (``request_timeout`` plus a random pause
in ``delay_range``), also before the first one after minutes of silence, and each process keeps
its own rhythm, so the sensor and a run may still send two requests back to back. The pacer
keeps the same rhythm between consecutive requests of an account (the next one no sooner than
``delay`` + a random 1-3 x ``delay`` after the previous one's turn) wherever they are sent from:
each request reserves its turn in Postgres (``ig_request_pacing``), one atomic statement. The
first request after a quiet spell goes at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

RESERVE_TURN = """
INSERT INTO ig_request_pacing (username, next_at)
VALUES (%(username)s, to_timestamp(%(now)s + %(gap)s))
ON CONFLICT (username) DO UPDATE
SET next_at = GREATEST(ig_request_pacing.next_at, to_timestamp(%(now)s))
              + make_interval(secs => %(gap)s)
RETURNING extract(epoch FROM next_at)::float8 - %(gap)s
"""
# a turn further away than this many gaps means clocks disagree between machines (or a row
# left from one that was ahead): wait this long at most, never hang a run on it
MAX_GAPS_AHEAD = 10


class RequestPacer:
    """Reserve-then-wait turns for one username's requests."""

    def __init__(
        self,
        postgres,
        username: str,
        delay_seconds: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        pause: Callable[[float, float], float] = random.uniform,
    ):
        self.postgres = postgres
        self.username = username
        self.delay = delay_seconds
        self.clock, self.sleep, self.pause = clock, sleep, pause

    def gap(self) -> float:
        """The same spacing instagrapi's own pause gives back-to-back requests."""
        return self.delay + self.pause(self.delay, 3 * self.delay)

    def wait_turn(self) -> float:
        """Reserve the next turn and sleep until it comes; returns the seconds waited."""
        now, gap = self.clock(), self.gap()
        with self.postgres.connection() as conn, conn.cursor() as cur:
            cur.execute(RESERVE_TURN, {"username": self.username, "now": now, "gap": gap})
            turn = cur.fetchone()[0]
        wait = min(max(0.0, turn - now), MAX_GAPS_AHEAD * 4 * self.delay)
        if wait:
            self.sleep(wait)
        return wait


def pace(client, pacer: RequestPacer) -> None:
    """Make every private-API request of ``client`` wait for its turn (instagrapi's methods
    call ``self.private_request``, so an attribute on the instance reaches all of them)."""
    send = client.private_request

    def paced(*args, **kwargs):
        pacer.wait_turn()
        return send(*args, **kwargs)

    client.private_request = paced
