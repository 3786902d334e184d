"""Operated accounts' content in the object store (R2 in production, the local store by default).

``lomba accounts sync-content`` mirrors each account's folder to ``ig-content/<account>/``:
unchanged files (same sha256 as the account's manifest says) are not uploaded again, files gone
from the folder are removed from the store and reported. The post lane reads captions and images
from there, so any machine can post for any account; no host path is involved at run time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from lomba_pipeline.ig_ops.content import (
    IMAGE_SUFFIXES,
    ContentError,
    ContentItem,
    checked_item,
    first_untaken,
    load_item,
)
from lomba_pipeline.resources.object_store import ObjectNotFound, validate_key

CONTENT_PREFIX = "ig-content"
MANIFEST_PREFIX = "ig-content-manifests"  # <account>.json: file name -> sha256 of what is stored
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".txt": "text/plain; charset=utf-8",
    ".approve": "text/plain",
}


@dataclass
class SyncReport:
    account: str
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # uploaded, but the post lane will refuse

    def line(self) -> str:
        text = (
            f"{self.account}: {len(self.uploaded)} uploaded, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed"
        )
        if self.removed:
            text += f" ({', '.join(self.removed)})"
        return text


def account_prefix(account_id: str) -> str:
    return f"{CONTENT_PREFIX}/{account_id}/"


def _manifest_key(account_id: str) -> str:
    return f"{MANIFEST_PREFIX}/{account_id}.json"


def _read_manifest(store, account_id: str) -> dict[str, str]:
    try:
        return json.loads(store.get(_manifest_key(account_id)))["files"]
    except ObjectNotFound:
        return {}


def stored_names(store, account_id: str) -> list[str]:
    prefix = account_prefix(account_id)
    return sorted(key[len(prefix):] for key in store.list(prefix) if "/" not in key[len(prefix):])


def sync_content(store, account_id: str, folder: Path) -> SyncReport:
    """Mirror ``folder`` to the account's prefix; idempotent (a second run uploads nothing)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContentError(f"{account_id}: content folder {folder} does not exist")
    report = SyncReport(account_id)
    prefix = account_prefix(account_id)
    local: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() not in CONTENT_TYPES:
            continue
        try:
            validate_key(prefix + path.name)
        except ValueError:
            report.warnings.append(
                f"{path}: not synced: a file name may hold only letters, digits, '.', '_' and '-'"
            )
            continue
        local[path.name] = path
    manifest = _read_manifest(store, account_id)
    remote = set(stored_names(store, account_id))
    synced: dict[str, str] = {}
    for name, path in local.items():
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if manifest.get(name) == digest and name in remote:
            report.unchanged.append(name)
        else:
            store.put_at(prefix + name, data, CONTENT_TYPES[path.suffix.lower()])
            report.uploaded.append(name)
        synced[name] = digest
        if path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                load_item(folder, name)
            except ContentError as exc:
                report.warnings.append(str(exc))
    for name in sorted(remote - set(local)):
        store.delete(prefix + name)
        report.removed.append(name)
    manifest_bytes = json.dumps({"files": synced}, indent=1, sort_keys=True).encode()
    store.put_at(_manifest_key(account_id), manifest_bytes, "application/json")
    return report


def next_stored_item(conn, store, account_id: str) -> tuple[ContentItem | None, list[str]]:
    """The account's next post from the object store (see ``content.first_untaken``)."""
    prefix = account_prefix(account_id)
    names = stored_names(store, account_id)
    if not names:
        return None, [
            f"{account_id}: no content in the object store under {prefix}: run "
            "`lomba accounts sync-content`"
        ]
    present = set(names)

    def load(name: str) -> ContentItem:
        stem = name.rsplit(".", 1)[0]
        caption = f"{stem}.txt"
        if caption not in present:
            raise ContentError(f"{prefix}{name}: caption file {caption} is missing")
        return checked_item(
            name,
            store.get(prefix + name),
            store.get(prefix + caption),
            f"{stem}.approve" in present,
            image_source=prefix + name,
            caption_source=prefix + caption,
        )

    images = [n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    return first_untaken(conn, account_id, images, load)
