"""Invariants after a faulted run and its recovery: duplicates, lost rows, orphan objects.

Each check returns a ``Verdict`` whose counts go into the table and whose ``findings`` say exactly
what was duplicated, lost or orphaned (for the report; the bench never "fixes" anything).

- duplicates: more than one row / message / post for one natural key (canonical URL, raw item,
  image sha256, (record, channel) message in the fake WAHA, (account, day) post on the fake IG);
- lost: an item the site serves with no raw item, a raw item with no competitions record or still
  queued, a poster never stored, an images row whose object is missing, an approved record never
  broadcast, an account with no post for the day, unless the row is in a deliberate "unknown" /
  awaiting-approval state (counted apart, as ``unknown``);
- orphans: objects in the bucket that no row references (``images``, ``image_variants``, or an
  ``ig_actions`` post target).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import psycopg2


@dataclass
class Verdict:
    duplicates: int = 0
    lost: int = 0
    orphans: int = 0
    unknown: int = 0
    findings: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # short forms, counted in the table

    def add(self, kind: str, count: int, what: str, label: str | None = None) -> None:
        if count:
            setattr(self, kind, getattr(self, kind) + count)
            self.findings.append(f"{kind}: {what}")
            self.labels.extend([f"{kind}: {label or what.split(':')[0]}"] * count)


def _rows(url: str, sql: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall()
    finally:
        conn.close()


def snapshot(url: str, bucket_keys: list[str]) -> str:
    """What had been written when the fault hit (shows where the kills landed)."""
    try:
        (raw, img, comp, bsent, posts), = _rows(
            url,
            """SELECT (SELECT count(*) FROM raw_items), (SELECT count(*) FROM images),
                      (SELECT count(*) FROM competitions),
                      (SELECT count(*) FROM broadcasts WHERE status = 'sent'),
                      (SELECT count(*) FROM ig_actions WHERE kind = 'post' AND status = 'done')""",
        )
    except psycopg2.Error:
        return "schema not there yet"
    return f"raw {raw} img {img} rec {comp} obj {len(bucket_keys)} wa {bsent} ig {posts}"


def referenced_keys(url: str) -> set[str]:
    rows = _rows(
        url,
        """SELECT object_key FROM images
           UNION SELECT object_key FROM image_variants
           UNION SELECT target->>'object_key' FROM ig_actions WHERE target ? 'object_key'""",
    )
    return {r[0] for r in rows if r[0]}


# the operated accounts' content, put there by `lomba accounts sync-content`, not by a run
SYNCED_PREFIXES = ("ig-content/", "ig-content-manifests/")


def orphans(verdict: Verdict, url: str, bucket_keys: list[str]) -> None:
    written = {k for k in bucket_keys if not k.startswith(SYNCED_PREFIXES)}
    stray = sorted(written - referenced_keys(url))
    verdict.add("orphans", len(stray), f"objects no row references: {stray[:3]}")


def catalog(url: str, bucket_keys: list[str], served_urls: set[str]) -> Verdict:
    v = Verdict()
    for sql, what in [
        ("SELECT canonical_url, count(*) FROM raw_items GROUP BY 1 HAVING count(*) > 1",
         "raw items per canonical URL"),
        ("SELECT raw_item_id, count(*) FROM competitions GROUP BY 1 HAVING count(*) > 1",
         "competitions per raw item"),
        ("SELECT canonical_url, count(*) FROM competitions GROUP BY 1 HAVING count(*) > 1",
         "competitions per canonical URL"),
        ("SELECT sha256, count(*) FROM images GROUP BY 1 HAVING count(*) > 1",
         "images per sha256"),
    ]:
        dup = _rows(url, sql)
        v.add("duplicates", sum(n - 1 for _, n in dup), f"{what}: {dup[:3]}")
    stored = {r[0] for r in _rows(url, "SELECT canonical_url FROM raw_items")}
    missing = sorted(served_urls - stored)
    v.add("lost", len(missing), f"served by the site, no raw item: {missing[:3]}")
    for sql, what in [
        ("SELECT r.id FROM raw_items r LEFT JOIN competitions c ON c.raw_item_id = r.id "
         "WHERE c.id IS NULL", "raw items without a competitions record"),
        ("SELECT id FROM raw_items WHERE needs_extraction", "raw items still queued"),
        ("SELECT id FROM raw_items WHERE image_url IS NOT NULL AND image_id IS NULL "
         "AND image_error IS NULL", "posters never stored"),
        ("SELECT id || ': ' || image_error FROM raw_items WHERE image_error IS NOT NULL",
         "posters refused (the site serves valid ones)"),
    ]:
        ids = [r[0] for r in _rows(url, sql)]
        v.add("lost", len(ids), f"{what}: {ids[:4]}")
    keys = set(bucket_keys)
    gone = [k for (k,) in _rows(url, "SELECT object_key FROM images") if k not in keys]
    v.add("lost", len(gone), f"images rows whose object is missing: {gone[:3]}")
    orphans(v, url, bucket_keys)
    return v


def broadcasts(url: str, bucket_keys: list[str], delivered: list[dict], channel: str) -> Verdict:
    v = catalog_integrity_only(url, bucket_keys)
    per_record = Counter()
    for message in delivered:
        if message.get("chatId") != channel:
            continue
        name = (message.get("file") or {}).get("filename", "")
        per_record[name.removeprefix("lomba-").removesuffix(".jpg") or "text"] += 1
    dup = {k: n for k, n in per_record.items() if n > 1}
    v.add("duplicates", sum(n - 1 for n in dup.values()),
          f"WhatsApp messages per record on {channel}: {dup}")
    rows = _rows(
        url,
        """SELECT c.id, c.review_status, b.status FROM competitions c
           LEFT JOIN broadcasts b ON b.competition_id = c.id AND b.purpose = 'publish'
           ORDER BY c.id""",
    )
    for cid, review, status in rows:
        got = per_record.get(str(cid), 0)
        if review != "approved":
            v.add("lost", 1, f"record {cid} never approved (review_status {review})")
        elif status == "sent" and got == 1:
            continue
        elif status == "unknown":
            v.add("unknown", 1, f"record {cid}: broadcast 'unknown' (delivered {got}x)",
                  "broadcast 'unknown'")
        elif status == "sending" and got:
            v.add("unknown", 1, f"record {cid}: broadcast stuck 'sending', WAHA has it "
                                 f"({got}x); nothing marks it unknown",
                  "stuck 'sending', delivered")
        elif got == 0:
            v.add("lost", 1, f"record {cid}: approved, never delivered, broadcast status "
                             f"{status!r} (not 'unknown'; catch-up retries only 'failed')",
                  f"approved, never delivered, stuck {status!r}")
        elif status != "sent":
            v.add("unknown", 1, f"record {cid}: delivered {got}x but status {status!r}")
    return v


def catalog_integrity_only(url: str, bucket_keys: list[str]) -> Verdict:
    """Rows that must still be whole after a fault that does not touch ingestion."""
    v = Verdict()
    keys = set(bucket_keys)
    gone = [k for (k,) in _rows(url, "SELECT object_key FROM images") if k not in keys]
    v.add("lost", len(gone), f"images rows whose object is missing: {gone[:3]}")
    orphans(v, url, bucket_keys)
    return v


def posts(url: str, bucket_keys: list[str], fake, accounts: list[str], uid, day: str) -> Verdict:
    v = Verdict()
    status = dict(_rows(
        url, "SELECT account_id, status FROM ig_actions WHERE kind = 'post' AND idempotency_key "
             "= 'post:' || account_id || ':' || %s", (day,),
    ))
    for account in accounts:
        published = len(fake.posts_of(uid(account)))
        st = status.get(account)
        if published > 1:
            v.add("duplicates", published - 1, f"{account}: {published} posts on {day}")
        if published >= 1 and st == "done":
            continue
        if st in {"unknown", "awaiting_approval"}:
            v.add("unknown", 1, f"{account}: post {st} (published {published}x)")
        elif published == 0:
            v.add("lost", 1, f"{account}: no post on {day}, action status {st!r}")
        else:
            v.add("unknown", 1, f"{account}: published but action status {st!r}")
    ledger = _rows(url, "SELECT account_id, file_name, count(*) FROM ig_content_ledger "
                        "GROUP BY 1, 2 HAVING count(*) > 1")
    v.add("duplicates", sum(n - 1 for *_, n in ledger), f"content files taken twice: {ledger}")
    orphans(v, url, bucket_keys)
    return v
