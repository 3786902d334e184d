"""Content folders: one image plus a caption file (same stem, ``.txt``) per post.

Files are taken in name order and recorded in ``ig_content_ledger`` bound to the post action, so a
file is never posted twice and a retried run takes the same file again. A ``<stem>.approve`` file
marks a post that must wait for a person.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lomba_pipeline.media.images import InvalidImage, inspect_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_CAPTION_CHARS = 2200  # Instagram's caption limit


class ContentError(ValueError):
    pass


@dataclass(frozen=True)
class ContentItem:
    file_name: str
    image: bytes
    caption: str
    sha256: str
    needs_approval: bool


def _inside(folder: Path, candidate: Path) -> Path:
    resolved = candidate.resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise ContentError(f"{candidate}: outside the content folder {folder}")
    return resolved


def candidate_files(folder: Path) -> list[str]:
    """Image file names in stable (name) order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContentError(f"content folder does not exist: {folder}")
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def load_item(folder: Path, file_name: str) -> ContentItem:
    """Read and check one post; a clear error names the file when it is unusable."""
    folder = Path(folder)
    image_path = _inside(folder, folder / file_name)
    if image_path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ContentError(f"{image_path}: not an image file (expected {sorted(IMAGE_SUFFIXES)})")
    if not image_path.is_file():
        raise ContentError(f"{image_path}: file not found")
    caption_path = _inside(folder, image_path.with_suffix(".txt"))
    if not caption_path.is_file():
        raise ContentError(f"{image_path.name}: caption file {caption_path.name} is missing")
    return checked_item(
        image_path.name,
        image_path.read_bytes(),
        caption_path.read_bytes(),
        image_path.with_suffix(".approve").exists(),
        image_source=str(image_path),
        caption_source=str(caption_path),
    )


def checked_item(
    file_name: str,
    image: bytes,
    caption_bytes: bytes,
    needs_approval: bool,
    *,
    image_source: str,
    caption_source: str,
) -> ContentItem:
    """One post from its bytes (a folder or the object store), checked as Instagram would."""
    try:
        inspect_image(image, source=image_source, max_bytes=MAX_IMAGE_BYTES)
    except InvalidImage as exc:
        raise ContentError(str(exc)) from exc
    try:
        caption = caption_bytes.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ContentError(f"{caption_source}: caption is not UTF-8 text") from None
    if not caption:
        raise ContentError(f"{caption_source}: caption is empty")
    if len(caption) > MAX_CAPTION_CHARS:
        raise ContentError(f"{caption_source}: caption longer than {MAX_CAPTION_CHARS} characters")
    return ContentItem(
        file_name, image, caption, hashlib.sha256(image).hexdigest(), needs_approval
    )


def taken_files(conn, account_id: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT file_name FROM ig_content_ledger WHERE account_id = %s", (account_id,))
        return {r[0] for r in cur.fetchall()}


def next_item(conn, account_id: str, folder: Path) -> tuple[ContentItem | None, list[str]]:
    """The first usable file of a local folder not taken yet (see ``first_untaken``)."""
    return first_untaken(conn, account_id, candidate_files(folder), lambda n: load_item(folder, n))


def first_untaken(conn, account_id: str, names: list[str], load) -> tuple[ContentItem | None, list[str]]:
    """The first usable file not taken yet (None when used up), and why others were refused.

    A refused file (missing caption, not an image, ...) is skipped, not fatal: one bad file must
    not stop an account's posts; the refusal is reported.
    """
    taken = taken_files(conn, account_id)
    refused = []
    for name in names:
        if name in taken:
            continue
        try:
            return load(name), refused
        except ContentError as exc:
            refused.append(str(exc))
    return None, refused
