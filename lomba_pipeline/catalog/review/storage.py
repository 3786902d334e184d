"""Records and their poster objects, kept consistent between Postgres and the object store.

Ordering rule: a row never points at a missing object. New objects are uploaded before the
transaction that references them; old objects are deleted only after the transaction that stopped
referencing them has committed. A crash in between leaves at worst an orphaned object, which
``collect_garbage`` (``lomba storage gc``) finds and removes. So does an object store that is down
at that moment: the change stands, and the old objects wait for the next gc.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from psycopg2.extras import RealDictCursor

from lomba_pipeline.catalog.review.actions import ReviewError, load_record
from lomba_pipeline.catalog.review.duplicates import refresh_duplicate_candidates
from lomba_pipeline.db.events import record_event
from lomba_pipeline.media.images import inspect_image
from lomba_pipeline.resources.object_store import LocalObjectStore, ObjectStore, is_r2

log = logging.getLogger(__name__)

POSTER_PREFIX = "posters"
_VARIANT_INFIX = ".v-"


def variant_key(original_key: str, tag: str) -> str:
    """``posters/<sha>.jpg`` → ``posters/<sha>.v-<tag>.jpg`` (next to the original)."""
    stem = original_key.rsplit(".", 1)[0]
    return f"{stem}{_VARIANT_INFIX}{tag}.jpg"


def original_of_variant(key: str) -> str | None:
    match = re.match(r"^(.*)\.v-[A-Za-z0-9]+\.jpg$", key)
    return match.group(1) if match else None


class ObjectStoreUnavailable(ReviewError):
    """The object store refused or did not answer; nothing in the database was changed."""


def store_image(conn, store: ObjectStore, data: bytes, *, source: str) -> dict:
    """Check, upload (content-addressed) and upsert the ``images`` row; returns the row."""
    info = inspect_image(data, source)
    try:
        stored = store.put(data, info.content_type, prefix=POSTER_PREFIX)
    except Exception as exc:  # connection refused, timeout, 5xx: the SDK has many error types
        log.warning("object store write failed for %s: %s", source, exc)
        raise ObjectStoreUnavailable(
            f"penyimpanan poster tidak dapat dihubungi ({type(exc).__name__}); "
            "tidak ada yang diubah, poster lama tetap dipakai. Coba lagi nanti."
        ) from exc
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            """
            INSERT INTO images (sha256, object_key, public_url, content_type, size_bytes, width,
                                height, phash)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (sha256) DO UPDATE SET public_url = EXCLUDED.public_url
            RETURNING *
            """,
            (stored.sha256, stored.key, stored.public_url, info.content_type, info.size_bytes,
             info.width, info.height, info.phash),
        )
        return dict(cur.fetchone())


def _image_in_use(cur, image_id: int) -> bool:
    cur.execute(
        "SELECT EXISTS (SELECT 1 FROM competitions WHERE image_id = %(id)s) "
        "OR EXISTS (SELECT 1 FROM raw_items WHERE image_id = %(id)s)",
        {"id": image_id},
    )
    return cur.fetchone()[0]


def _drop_image_if_unused(cur, image_id: int | None) -> list[str]:
    """Delete an unreferenced ``images`` row (in the transaction); returns object keys to remove."""
    if image_id is None or _image_in_use(cur, image_id):
        return []
    cur.execute("SELECT object_key FROM image_variants WHERE image_id = %s", (image_id,))
    keys = [r[0] for r in cur.fetchall()]
    cur.execute("DELETE FROM images WHERE id = %s RETURNING object_key", (image_id,))
    row = cur.fetchone()
    if row:
        keys.insert(0, row[0])
    return keys


def _remove_objects(store: ObjectStore, keys: list[str]) -> tuple[list[str], list[str]]:
    """(removed, left): a key the store cannot delete now stays for ``lomba storage gc``."""
    removed, left = [], []
    for key in keys:
        try:
            if store.delete(key):
                removed.append(key)
        except Exception as exc:  # the rows are already committed: the change stands
            log.warning("object %s not removed (left for storage gc): %s", key, exc)
            left.append(key)
    return removed, left


@dataclass
class DeleteResult:
    competition_id: int
    removed_objects: list[str] = field(default_factory=list)
    left_objects: list[str] = field(default_factory=list)  # for ``lomba storage gc``


def delete_record(pg, store: ObjectStore, competition_id: int, *, actor: str) -> DeleteResult:
    """Delete the record and its raw item; remove the poster when nothing else uses it."""
    with pg.connection() as conn:
        record = load_record(conn, competition_id, lock=True)
        with conn.cursor() as cur:
            cur.execute("SELECT image_id FROM raw_items WHERE id = %s", (record["raw_item_id"],))
            raw_image = (cur.fetchone() or [None])[0]
            # the raw item goes too (ON DELETE CASCADE removes the competition and its pairs)
            cur.execute("DELETE FROM raw_items WHERE id = %s", (record["raw_item_id"],))
            keys = []
            for image_id in {record["image_id"], raw_image} - {None}:
                keys += _drop_image_if_unused(cur, image_id)
        record_event(
            conn, actor=actor, kind="record.deleted", subject=f"competition:{competition_id}",
            data={"before": {"title": record["title"], "canonical_url": record["canonical_url"],
                             "review_status": record["review_status"]},
                  "after": None, "objects_removed": keys},
        )
    return DeleteResult(competition_id, *_remove_objects(store, keys))


@dataclass
class ReplaceResult:
    competition_id: int
    new_key: str
    removed_objects: list[str] = field(default_factory=list)
    left_objects: list[str] = field(default_factory=list)  # for ``lomba storage gc``


def replace_poster(
    pg, store: ObjectStore, competition_id: int, data: bytes, *, actor: str, filename: str
) -> ReplaceResult:
    """Upload the new poster, point the record (and its raw item) at it, drop the old one."""
    with pg.connection() as conn:
        record = load_record(conn, competition_id, lock=True)
        image = store_image(conn, store, data, source=filename)
        with conn.cursor() as cur:
            cur.execute("SELECT image_id FROM raw_items WHERE id = %s", (record["raw_item_id"],))
            raw_image = (cur.fetchone() or [None])[0]
            cur.execute(
                "UPDATE competitions SET image_id = %s, updated_at = now() WHERE id = %s",
                (image["id"], competition_id),
            )
            cur.execute(
                "UPDATE raw_items SET image_id = %s, image_error = NULL WHERE id = %s",
                (image["id"], record["raw_item_id"]),
            )
            keys = []
            for old in {record["image_id"], raw_image} - {None, image["id"]}:
                keys += _drop_image_if_unused(cur, old)
        record_event(
            conn, actor=actor, kind="record.poster_replaced", subject=f"competition:{competition_id}",
            data={"before": {"image_id": record["image_id"]},
                  "after": {"image_id": image["id"], "object_key": image["object_key"]},
                  "objects_removed": keys},
        )
        refresh_duplicate_candidates(conn, competition_id)
    return ReplaceResult(competition_id, image["object_key"], *_remove_objects(store, keys))


@dataclass
class GcReport:
    orphaned: list[str]
    removed: list[str]
    unused_images: list[int]
    dry_run: bool


def object_age_seconds(store: ObjectStore, key: str) -> float | None:
    """How long ago the object was written (None when the store cannot say)."""
    if isinstance(store, LocalObjectStore):
        try:
            return time.time() - (Path(store.root) / key).stat().st_mtime
        except FileNotFoundError:
            return None
    if is_r2(store):
        head = store.s3.get_client().head_object(Bucket=store.bucket, Key=key)
        return (datetime.now(UTC) - head["LastModified"]).total_seconds()
    return None


def collect_garbage(
    pg, store: ObjectStore, *, dry_run: bool, grace_seconds: float = 3600, actor: str = "system"
) -> GcReport:
    """Remove objects no row references, and image rows no record uses (with their objects).

    A poster variant counts as referenced while its original is. Objects and image rows younger
    than ``grace_seconds`` are left alone: an ingestion run may have uploaded them and not yet
    committed the rows that reference them.
    """
    with pg.connection() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT i.id FROM images i WHERE NOT EXISTS "
            "(SELECT 1 FROM competitions c WHERE c.image_id = i.id) AND NOT EXISTS "
            "(SELECT 1 FROM raw_items r WHERE r.image_id = i.id) "
            "AND i.created_at < now() - make_interval(secs => %s) ORDER BY i.id",
            (grace_seconds,),
        )
        unused = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT object_key FROM images WHERE NOT (id = ANY(%s))", (unused,))
        kept = {r[0] for r in cur.fetchall()}
        cur.execute(
            "SELECT object_key FROM image_variants WHERE NOT (image_id = ANY(%s))", (unused,)
        )
        kept |= {r[0] for r in cur.fetchall()}
    kept_stems = {k.rsplit(".", 1)[0] for k in kept}
    orphaned = []
    for key in store.list(POSTER_PREFIX + "/"):
        if key in kept:
            continue
        original = original_of_variant(key)
        if original is not None and original in kept_stems:
            continue
        age = object_age_seconds(store, key)
        if age is not None and age < grace_seconds:
            continue
        orphaned.append(key)
    if dry_run:
        return GcReport(orphaned, [], unused, True)
    with pg.connection() as conn:
        with conn.cursor() as cur:
            for image_id in unused:
                _drop_image_if_unused(cur, image_id)  # re-checked inside the transaction
        record_event(
            conn, actor=actor, kind="storage.gc",
            data={"objects": len(orphaned), "unused_images": len(unused)},
        )
    removed, _left = _remove_objects(store, orphaned)
    return GcReport(orphaned, removed, unused, False)
