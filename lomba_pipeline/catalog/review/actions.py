"""Review actions on a catalog record: edit, approve, reject, mark as duplicate.

Every action runs in the caller's transaction, locks the record row, and writes one event with
who, when (the event's time) and the fields before → after. Repeating an action that already
happened (a double click, a retried request) changes nothing and writes no second event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from psycopg2.extras import Json, RealDictCursor

from lomba_pipeline.catalog.review.duplicates import refresh_duplicate_candidates
from lomba_pipeline.db.events import record_event

LEVELS = ("SD", "SMP", "SMA", "Mahasiswa", "Umum")

# field -> kind; the edit form shows exactly these
EDITABLE_FIELDS: dict[str, str] = {
    "title": "text",
    "organizer": "text",
    "description": "longtext",
    "start_date": "date",
    "end_date": "date",
    "event_start_date": "date",
    "event_end_date": "date",
    "levels": "levels",
    "categories": "list",
    "tags": "list",
    "fee_amount": "int",
    "prize": "text",
    "contact": "text",
    "registration_url": "url",
    "guidebook_url": "url",
    "location": "text",
    "is_online": "bool",
}
FIELD_LABELS = {
    "title": "Judul", "organizer": "Penyelenggara", "description": "Deskripsi",
    "start_date": "Pendaftaran dibuka", "end_date": "Batas pendaftaran",
    "event_start_date": "Acara mulai", "event_end_date": "Acara selesai", "levels": "Jenjang",
    "categories": "Kategori", "tags": "Tag", "fee_amount": "Biaya (Rp, 0 = gratis)",
    "prize": "Hadiah", "contact": "Kontak", "registration_url": "Link pendaftaran",
    "guidebook_url": "Link panduan", "location": "Lokasi", "is_online": "Daring",
}
MAX_TEXT = {"title": 300, "organizer": 300, "description": 10000}
MAX_INT = 2**31 - 1  # the integer columns


class ReviewError(ValueError):
    """An action that cannot be done; the message is shown to the reviewer."""


class RecordNotFound(ReviewError):
    pass


@dataclass(frozen=True)
class ActionResult:
    changed: bool
    status: str
    event_id: int | None = None


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def parse_field(name: str, raw: Any) -> Any:
    """Form input → column value; ``ReviewError`` names the field on bad input."""
    kind = EDITABLE_FIELDS[name]
    label = FIELD_LABELS[name]
    if any("\x00" in str(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None):
        raise ReviewError(f"{label}: berisi karakter NUL yang tidak diizinkan")
    if kind in {"list", "levels"}:
        items = raw if isinstance(raw, list) else str(raw or "").split(",")
        values = [str(v).strip() for v in items if str(v).strip()]
        if kind == "levels":
            unknown = [v for v in values if v not in LEVELS]
            if unknown:
                raise ReviewError(f"{label}: nilai tidak dikenal {', '.join(unknown)}")
            values = [lvl for lvl in LEVELS if lvl in values]
        return values
    text = str(raw).strip() if raw is not None else ""
    if kind == "bool":
        if text in {"", "unknown"}:
            return None
        return text in {"1", "true", "ya", "on"}
    if not text:
        return None
    if kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ReviewError(f"{label}: tanggal tidak valid {text!r} (format YYYY-MM-DD)") from None
    if kind == "int":
        digits = text.replace(".", "").replace("Rp", "").strip()
        if not (digits.isascii() and digits.isdigit()):
            raise ReviewError(f"{label}: harus angka, bukan {text!r}")
        if int(digits) > MAX_INT:
            raise ReviewError(f"{label}: terlalu besar (maksimal {MAX_INT})")
        return int(digits)
    if kind == "url":
        if not text.lower().startswith(("http://", "https://")):
            if re.match(r"^[a-z][a-z0-9+.-]*:(?!\d)", text, re.I):  # javascript:, data:, ftp:...
                raise ReviewError(f"{label}: hanya tautan http(s) yang diterima")
            text = "https://" + text
        if not _is_web_url(text) or len(text) > 1000:
            raise ReviewError(f"{label}: tautan tidak valid")
        return text
    limit = MAX_TEXT.get(name, 2000)
    if len(text) > limit:
        raise ReviewError(f"{label}: terlalu panjang ({len(text)} > {limit} karakter)")
    return text


def _is_web_url(text: str) -> bool:
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        return False


def load_record(conn, competition_id: int, *, lock: bool = False) -> dict:
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            "SELECT * FROM competitions WHERE id = %s" + (" FOR UPDATE" if lock else ""),
            (competition_id,),
        )
        row = cur.fetchone()
    if row is None:
        raise RecordNotFound(f"data lomba #{competition_id} tidak ada")
    return dict(row)


def edit_record(conn, competition_id: int, changes: dict[str, Any], *, actor: str) -> ActionResult:
    """Set the given fields (already parsed); provenance of each changed field becomes the editor."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ReviewError(f"kolom tidak bisa diubah: {', '.join(sorted(unknown))}")
    record = load_record(conn, competition_id, lock=True)
    before, after = {}, {}
    for name, value in changes.items():
        old = record[name]
        if _plain(old) != _plain(value):
            before[name], after[name] = _plain(old), _plain(value)
    if not after:
        return ActionResult(False, record["review_status"])
    provenance = dict(record["extracted_from"] or {})
    for name in after:
        provenance[name] = f"manual:{actor}"
    assignments = ", ".join(f"{name} = %({name})s" for name in after)
    params = {name: changes[name] for name in after}
    params.update(id=competition_id, provenance=Json(provenance))
    with conn.cursor() as cur:
        cur.execute(
            f"UPDATE competitions SET {assignments}, extracted_from = %(provenance)s, "
            "updated_at = now() WHERE id = %(id)s",
            params,
        )
    event_id = record_event(
        conn, actor=actor, kind="review.edited", subject=f"competition:{competition_id}",
        data={"before": before, "after": after},
    )
    refresh_duplicate_candidates(conn, competition_id)
    return ActionResult(True, record["review_status"], event_id)


def _set_status(
    conn, competition_id: int, status: str, *, actor: str, duplicate_of: int | None = None,
    note: str | None = None,
) -> ActionResult:
    record = load_record(conn, competition_id, lock=True)
    if record["review_status"] == status and record["duplicate_of"] == duplicate_of:
        return ActionResult(False, status)
    with conn.cursor() as cur:
        cur.execute(
            """
            UPDATE competitions
            SET review_status = %s, duplicate_of = %s, reviewed_by = %s, reviewed_at = now(),
                updated_at = now()
            WHERE id = %s
            """,
            (status, duplicate_of, actor, competition_id),
        )
    data: dict[str, Any] = {
        "before": {"review_status": record["review_status"], "duplicate_of": record["duplicate_of"]},
        "after": {"review_status": status, "duplicate_of": duplicate_of},
    }
    if note:
        data["note"] = note.replace("\x00", "")[:500]
    kind = {"approved": "review.approved", "rejected": "review.rejected",
            "duplicate": "review.marked_duplicate", "pending": "review.reopened"}[status]
    event_id = record_event(
        conn, actor=actor, kind=kind, subject=f"competition:{competition_id}", data=data
    )
    return ActionResult(True, status, event_id)


def approve(conn, competition_id: int, *, actor: str) -> ActionResult:
    record = load_record(conn, competition_id)
    if not (record["title"] or "").strip():
        raise ReviewError("judul masih kosong: isi dulu sebelum menyetujui")
    return _set_status(conn, competition_id, "approved", actor=actor)


def reject(conn, competition_id: int, *, actor: str, note: str | None = None) -> ActionResult:
    return _set_status(conn, competition_id, "rejected", actor=actor, note=note)


def reopen(conn, competition_id: int, *, actor: str) -> ActionResult:
    return _set_status(conn, competition_id, "pending", actor=actor)


def mark_duplicate(conn, competition_id: int, original_id: int, *, actor: str) -> ActionResult:
    if competition_id == original_id:
        raise ReviewError("data tidak bisa menjadi duplikat dirinya sendiri")
    original = load_record(conn, original_id)
    # follow the chain so duplicates always point at the record that stays
    seen = {competition_id}
    while original["review_status"] == "duplicate" and original["duplicate_of"]:
        if original["id"] in seen or original["duplicate_of"] in seen:
            raise ReviewError("penandaan duplikat ini membuat lingkaran")
        seen.add(original["id"])
        original = load_record(conn, original["duplicate_of"])
    if original["id"] == competition_id:
        raise ReviewError("penandaan duplikat ini membuat lingkaran")
    return _set_status(conn, competition_id, "duplicate", actor=actor, duplicate_of=original["id"])
