"""Claims on queued items, so several shards (steps on several machines) drain one queue.

A shard claims the next item with ``FOR UPDATE SKIP LOCKED`` (two shards never stamp the same
row) and stamps it with its own claimer id; while it works, a heartbeat keeps the stamps fresh.
A stamp older than the lease was left by a lost worker: any shard takes that item again (at
once when the lost process was on the same host: its pid is gone). The
store writes a record only while its claim holds (``write_outcome``), so an item is written
once even if a stalled shard wakes up after its lease was taken over.

The lease runs on the database's clock: it measures how long a live process has been silent,
not the domain's "now" (which tests inject for the retry schedule).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from typing import Any

from psycopg2.extras import RealDictCursor

from lomba_pipeline.resources.ai import RetryPolicy

DEFAULT_LEASE_SECONDS = 120.0

_COMPLETE_SQL = """
    c.organizer IS NOT NULL AND c.start_date IS NOT NULL AND c.end_date IS NOT NULL
    AND cardinality(c.categories) > 0 AND cardinality(c.levels) > 0
"""

# queued, poster settled (OCR may need it), attempts left and the retry wait over
_READY_SQL = """
    r.needs_extraction
    AND (r.image_url IS NULL OR r.image_id IS NOT NULL OR r.image_error IS NOT NULL)
    AND r.extraction_tries < %(max_tries)s
    AND (r.extraction_next_at IS NULL OR r.extraction_next_at <= %(now)s)
"""

_UNCLAIMED_SQL = """
    (r.extraction_claimed_at IS NULL
     OR r.extraction_claimed_at < now() - make_interval(secs => %(lease)s))
"""

COUNT_SQL = f"""
SELECT count(*) AS ready,
       count(*) FILTER (WHERE NOT {_UNCLAIMED_SQL}) AS claimed_elsewhere
  FROM raw_items r WHERE {_READY_SQL}
"""

CLAIM_SQL = f"""
WITH next AS (
  SELECT r.id FROM raw_items r
   WHERE {_READY_SQL} AND {_UNCLAIMED_SQL} AND r.id <> ALL(%(skip)s::bigint[])
   ORDER BY r.id
   LIMIT %(n)s
   FOR UPDATE SKIP LOCKED
)
UPDATE raw_items r SET extraction_claimed_by = %(claimer)s, extraction_claimed_at = now()
  FROM next WHERE r.id = next.id
RETURNING r.id
"""

ROWS_SQL = f"""
SELECT r.id, r.source_kind, r.source_name, r.canonical_url, r.title, r.caption, r.posted_at,
       r.hints, r.image_id, i.public_url, i.object_key, i.content_type, r.extraction_tries,
       c.id AS competition_id, COALESCE({_COMPLETE_SQL}, false) AS complete
  FROM raw_items r
  LEFT JOIN images i ON i.id = r.image_id
  LEFT JOIN competitions c ON c.raw_item_id = r.id
 WHERE r.id = ANY(%(ids)s)
 ORDER BY r.id
"""


def new_claimer(label: str) -> str:
    """A claimer id unique to this attempt of this shard (a re-delivered shard is another one)."""
    return f"{label}/{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def _params(policy: RetryPolicy, now: dt.datetime, lease: float) -> dict[str, Any]:
    return {"max_tries": policy.max_attempts, "now": now, "lease": lease}


def count_ready(conn, policy: RetryPolicy, now: dt.datetime,
                lease: float = DEFAULT_LEASE_SECONDS) -> tuple[int, int]:
    """(items ready for extraction now, of which claimed by a live shard)."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(COUNT_SQL, _params(policy, now, lease))
        row = cur.fetchone()
    return row["ready"], row["claimed_elsewhere"]


def claim_next(conn, claimer: str, n: int, policy: RetryPolicy, now: dt.datetime,
               lease: float = DEFAULT_LEASE_SECONDS,
               skip: list[int] | None = None) -> list[dict[str, Any]]:
    """Claim up to ``n`` ready items (oldest first, none of ``skip``) and return their rows."""
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(CLAIM_SQL, {**_params(policy, now, lease), "n": n, "claimer": claimer,
                                "skip": skip or []})
        ids = [r["id"] for r in cur.fetchall()]
        if not ids:
            return []
        cur.execute(ROWS_SQL, {"ids": ids})
        return list(cur.fetchall())


def holds_claim(conn, raw_item_id: int, claimer: str) -> bool:
    """Lock the item's row and say whether ``claimer`` still holds it (inside the write's
    transaction, so a takeover cannot slip in between the check and the write)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT extraction_claimed_by = %s FROM raw_items WHERE id = %s FOR UPDATE",
            (claimer, raw_item_id),
        )
        row = cur.fetchone()
    return bool(row and row[0])


def release_claims_of_dead_local_processes(conn) -> int:
    """Free at once the claims of processes of this host that are gone (a crashed
    ``lomba extract-pending``, a killed worker on this machine): no need to wait for their lease.
    Returns how many items were freed."""
    host = socket.gethostname()
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT extraction_claimed_by FROM raw_items "
                    "WHERE extraction_claimed_by IS NOT NULL")
        dead = [c for (c,) in cur.fetchall() if _is_dead_local(c, host)]
        if not dead:
            return 0
        cur.execute("UPDATE raw_items SET extraction_claimed_by = NULL, "
                    "extraction_claimed_at = NULL WHERE extraction_claimed_by = ANY(%s)", (dead,))
        return cur.rowcount


def _is_dead_local(claimer: str, host: str) -> bool:
    parts = claimer.rsplit("/", 3)  # label/host/pid/nonce
    if len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Heartbeat:
    """Keeps this claimer's stamps fresh every lease/4 while the shard works."""

    def __init__(self, postgres, claimer: str, lease: float = DEFAULT_LEASE_SECONDS):
        self.postgres, self.claimer = postgres, claimer
        self.interval = max(0.2, lease / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="extract-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with self.postgres.connection() as conn, conn.cursor() as cur:
                    cur.execute("UPDATE raw_items SET extraction_claimed_at = now() "
                                "WHERE extraction_claimed_by = %s", (self.claimer,))
            except Exception:  # a missed beat only shortens the lease; the next one retries
                continue
