"""Login, the review queue, record pages and the review actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from psycopg2.extras import RealDictCursor

from lomba_pipeline.admin.auth import User, authenticate, normalize_username
from lomba_pipeline.admin.clock import jakarta_today
from lomba_pipeline.admin.sessions import end_session, start_session
from lomba_pipeline.admin.throttle import forget_failures, reserve_attempt
from lomba_pipeline.admin.web import (
    admin_user,
    csrf_protected,
    current_user,
    flash,
    redirect,
    render,
    request_client,
)
from lomba_pipeline.catalog.review import actions
from lomba_pipeline.catalog.review.broadcast import (
    BroadcastDecisionError,
    broadcast_competition,
    decide_uncertain_broadcast,
)
from lomba_pipeline.catalog.review.caption import render_caption
from lomba_pipeline.catalog.review.duplicates import candidate_pairs, duplicate_groups
from lomba_pipeline.catalog.review.storage import (
    ObjectStoreUnavailable,
    delete_record,
    replace_poster,
)
from lomba_pipeline.db.events import list_events, record_event
from lomba_pipeline.media.images import MAX_IMAGE_BYTES, InvalidImage

PAGE_SIZE = 25
MAX_PAGE = 100_000
MAX_ID = 2**63 - 1  # bigint
RecordId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
REASON_LABELS = {
    "same_url": "URL sama", "same_description": "deskripsi sama",
    "similar_title": "judul mirip & deadline berdekatan", "similar_poster": "poster hampir sama",
}
STATUS_LABELS = {"pending": "menunggu", "approved": "disetujui", "rejected": "ditolak",
                 "duplicate": "duplikat"}

public = APIRouter()
pages = APIRouter(dependencies=[Depends(current_user)])
actions_router = APIRouter(dependencies=[Depends(current_user), Depends(csrf_protected)])


def _safe_next(target: str | None, fallback: str = "/") -> str:
    # only local paths: never redirect off-site after login, never a control character in the
    # Location header (CR/LF would split it, NUL cannot be sent at all)
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)):
        return target
    return fallback


# -- login / logout --------------------------------------------------------------------------

@public.get("/login")
def login_form(request: Request, next: str = "/"):
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@public.post("/login", dependencies=[Depends(csrf_protected)])
def login(request: Request, username: str = Form(""), password: str = Form(""),
          next: str = Form("/")):
    pg = request.app.state.postgres
    client = request_client(request)
    # a name that cannot exist still costs one password check and one attempt (same timing)
    name = normalize_username(username) or "?"
    with pg.connection() as conn:  # committed before the password is checked
        wait = reserve_attempt(conn, name, client, now=request.app.state.clock(),
                               policy=request.app.state.login_throttle)
    if wait is not None:
        return render(request, "login.html", {
            "next": _safe_next(next),
            "error": f"Terlalu banyak percobaan gagal dari perangkat ini. "
                     f"Coba lagi dalam {_duration(wait)}.",
        }, status_code=429, headers={"Retry-After": str(wait)})
    with pg.connection() as conn:
        user = authenticate(conn, name if name != "?" else "", password)
        if user is not None:
            forget_failures(conn, name, client, now=request.app.state.clock(),
                            policy=request.app.state.login_throttle)
            record_event(conn, actor=user.username, kind="auth.login", data={"client": client})
            start_session(request, conn, user, client=client)
    if user is None:
        return render(request, "login.html", {
            "next": _safe_next(next), "error": "Nama pengguna atau kata sandi salah.",
        }, status_code=401)
    return redirect(_safe_next(next))


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} detik"
    return f"{round(seconds / 60)} menit"


@actions_router.post("/logout")
def logout(request: Request, user: User = Depends(current_user)):
    with request.app.state.postgres.connection() as conn:
        end_session(request, conn)
        record_event(conn, actor=user.username, kind="auth.logout")
    return redirect("/login")


# -- reading records -------------------------------------------------------------------------

RECORD_SQL = """
    SELECT c.*, i.object_key AS poster_key, r.source_kind, r.source_name
    FROM competitions c
    LEFT JOIN images i ON i.id = c.image_id
    LEFT JOIN raw_items r ON r.id = c.raw_item_id
"""


def _decorate(request: Request, row: dict) -> dict:
    store = request.app.state.object_store
    row = dict(row)
    row["poster_url"] = store.public_url(row["poster_key"]) if row.get("poster_key") else None
    row["status_label"] = STATUS_LABELS.get(row["review_status"], row["review_status"])
    return row


def _fetch(conn, ids: list[int], request: Request) -> dict[int, dict]:
    if not ids:
        return {}
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(RECORD_SQL + " WHERE c.id = ANY(%s)", (list(ids),))
        return {r["id"]: _decorate(request, r) for r in cur.fetchall()}


def _reasons_by_pair(conn, ids: list[int]) -> dict[frozenset, list[str]]:
    return {
        frozenset((p["competition_id"], p["candidate_id"])): [
            REASON_LABELS.get(r, r) for r in p["reasons"]
        ]
        for p in candidate_pairs(conn, ids)
    }


@pages.get("/")
def review_queue(request: Request, page: PageNumber = 1):
    """Pending records, each shown with its whole duplicate group."""
    pg = request.app.state.postgres
    with pg.connection() as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM competitions WHERE review_status = 'pending'")
            total = cur.fetchone()[0]
            cur.execute(
                "SELECT id FROM competitions WHERE review_status = 'pending' "
                "ORDER BY end_date NULLS LAST, id LIMIT %s OFFSET %s",
                (PAGE_SIZE, (page - 1) * PAGE_SIZE),
            )
            pending_ids = [r[0] for r in cur.fetchall()]
        group_of = {}
        for group in duplicate_groups(conn):
            for member in group:
                group_of[member] = group
        cards, seen = [], set()
        wanted = set(pending_ids)
        for cid in pending_ids:
            wanted.update(group_of.get(cid, []))
        rows = _fetch(conn, sorted(wanted), request)
        reasons = _reasons_by_pair(conn, sorted(wanted))
        for cid in pending_ids:
            if cid in seen:
                continue
            members = group_of.get(cid, [cid])
            seen.update(members)
            card = []
            for member in members:
                row = rows.get(member)
                if row is None:
                    continue
                row["match_reasons"] = sorted({
                    reason for other in members if other != member
                    for reason in reasons.get(frozenset((member, other)), [])
                })
                card.append(row)
            cards.append(card)
    return render(request, "queue.html", {
        "cards": cards, "total": total, "page": page,
        "fields": actions.EDITABLE_FIELDS, "labels": actions.FIELD_LABELS,
        "has_next": page * PAGE_SIZE < total,
    })


@pages.get("/lomba")
def record_list(request: Request, status: str = "", q: Annotated[str, Query(max_length=200)] = "",
                page: PageNumber = 1):
    clauses, params = [], []
    if status in STATUS_LABELS:
        clauses.append("c.review_status = %s")
        params.append(status)
    if q.strip():
        clauses.append("(c.title ILIKE %s OR c.organizer ILIKE %s OR c.canonical_url ILIKE %s)")
        like = "%" + q.strip().replace("%", r"\%").replace("_", r"\_") + "%"
        params += [like, like, like]
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    with request.app.state.postgres.connection() as conn:
        with conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute(f"SELECT count(*) AS n FROM competitions c {where}", params)
            total = cur.fetchone()["n"]
            cur.execute(
                RECORD_SQL + f" {where} ORDER BY c.id DESC LIMIT %s OFFSET %s",
                params + [PAGE_SIZE, (page - 1) * PAGE_SIZE],
            )
            rows = [_decorate(request, r) for r in cur.fetchall()]
    return render(request, "records.html", {
        "rows": rows, "status": status, "q": q, "page": page, "total": total,
        "has_next": page * PAGE_SIZE < total, "statuses": STATUS_LABELS,
    })


@pages.get("/lomba/{competition_id}")
def record_page(request: Request, competition_id: RecordId):
    with request.app.state.postgres.connection() as conn:
        rows = _fetch(conn, [competition_id], request)
        if competition_id not in rows:
            return render(request, "error.html", {
                "title": "Tidak ditemukan", "message": f"Data lomba #{competition_id} tidak ada."
            }, status_code=404)
        record = rows[competition_id]
        pairs = candidate_pairs(conn, [competition_id])
        candidate_ids = [
            p["candidate_id"] if p["competition_id"] == competition_id else p["competition_id"]
            for p in pairs
        ]
        candidates = _fetch(conn, candidate_ids, request)
        reasons = _reasons_by_pair(conn, [competition_id])
        for cid, cand in candidates.items():
            cand["match_reasons"] = reasons.get(frozenset((competition_id, cid)), [])
        events = list_events(conn, subject=f"competition:{competition_id}", limit=50)
        with conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute(
                "SELECT channel, purpose, status, attempts, error, sent_at FROM broadcasts "
                "WHERE competition_id = %s ORDER BY id", (competition_id,))
            broadcasts = cur.fetchall()
    settings = request.app.state.settings
    try:
        caption = render_caption(record, settings.config_dir)
    except Exception as exc:  # a broken template must not hide the record
        caption = f"(template caption rusak: {type(exc).__name__})"
    return render(request, "record.html", {
        "r": record, "fields": actions.EDITABLE_FIELDS, "labels": actions.FIELD_LABELS,
        "levels": actions.LEVELS, "provenance": record["extracted_from"] or {},
        "candidates": [candidates[c] for c in sorted(candidates)], "events": events,
        "broadcasts": broadcasts, "caption": caption,
        "whatsapp_enabled": request.app.state.whatsapp.enabled
        and bool(settings.whatsapp.channel_id),
    })


# -- actions ---------------------------------------------------------------------------------

def _back(request: Request, competition_id: int, default: str | None = None):
    fallback = default or f"/lomba/{competition_id}"
    return redirect(_safe_next(request.query_params.get("back"), fallback))


@actions_router.post("/lomba/{competition_id}/ubah")
async def edit(request: Request, competition_id: RecordId, user: User = Depends(current_user)):
    form = await request.form()
    changes = {}
    try:
        for name, kind in actions.EDITABLE_FIELDS.items():
            if kind == "levels":
                changes[name] = actions.parse_field(name, form.getlist(name))
            elif name in form:
                changes[name] = actions.parse_field(name, form.get(name))
        with request.app.state.postgres.connection() as conn:
            result = actions.edit_record(conn, competition_id, changes, actor=user.username)
    except actions.ReviewError as exc:
        flash(request, str(exc), "error")
        return _back(request, competition_id)
    flash(request, "Perubahan disimpan." if result.changed else "Tidak ada perubahan.")
    return _back(request, competition_id)


def _broadcast_after_approval(request: Request, competition_id: RecordId, user: User) -> str:
    app = request.app
    outcome = broadcast_competition(app.state.postgres, app.state.object_store,
                                    app.state.whatsapp, app.state.whatsapp_targets, competition_id,
                                    actor=user.username, today=jakarta_today(app.state.clock))
    return outcome.message


@actions_router.post("/lomba/{competition_id}/setujui")
def approve(request: Request, competition_id: RecordId, user: User = Depends(current_user)):
    try:
        with request.app.state.postgres.connection() as conn:
            result = actions.approve(conn, competition_id, actor=user.username)
    except actions.ReviewError as exc:
        flash(request, str(exc), "error")
        return _back(request, competition_id)
    message = _broadcast_after_approval(request, competition_id, user)
    head = f"#{competition_id} disetujui." if result.changed else f"#{competition_id} sudah disetujui."
    flash(request, f"{head} {message}")
    return _back(request, competition_id, "/")


@actions_router.post("/lomba/{competition_id}/kirim-ulang")
def resend(request: Request, competition_id: RecordId, user: User = Depends(current_user)):
    flash(request, _broadcast_after_approval(request, competition_id, user))
    return _back(request, competition_id)


@actions_router.post("/lomba/{competition_id}/siaran-tidak-pasti")
def decide_uncertain(request: Request, competition_id: RecordId, keputusan: str = Form(""),
                     user: User = Depends(current_user)):
    """A person checked the channel: the uncertain message is there, or it must be sent."""
    decision = {"terkirim": "sent", "kirim-ulang": "resend"}.get(keputusan, keputusan)
    try:
        with request.app.state.postgres.connection() as conn:
            decide_uncertain_broadcast(conn, competition_id, decision, actor=user.username)
    except BroadcastDecisionError as exc:
        flash(request, str(exc), "error")
        return _back(request, competition_id)
    if decision == "sent":
        flash(request, "Dicatat: pesan sudah ada di kanal.")
    else:
        flash(request, _broadcast_after_approval(request, competition_id, user))
    return _back(request, competition_id)


@actions_router.post("/lomba/{competition_id}/tolak")
def reject(request: Request, competition_id: RecordId, note: str = Form(""),
           user: User = Depends(current_user)):
    try:
        with request.app.state.postgres.connection() as conn:
            actions.reject(conn, competition_id, actor=user.username, note=note or None)
    except actions.ReviewError as exc:
        flash(request, str(exc), "error")
        return _back(request, competition_id)
    flash(request, f"#{competition_id} ditolak.")
    return _back(request, competition_id, "/")


@actions_router.post("/lomba/{competition_id}/buka-lagi")
def reopen(request: Request, competition_id: RecordId, user: User = Depends(current_user)):
    with request.app.state.postgres.connection() as conn:
        actions.reopen(conn, competition_id, actor=user.username)
    flash(request, f"#{competition_id} kembali ke antrian.")
    return _back(request, competition_id)


@actions_router.post("/lomba/{competition_id}/duplikat")
def mark_duplicate(request: Request, competition_id: RecordId, original_id: str = Form(""),
                   user: User = Depends(current_user)):
    try:
        if not original_id.strip().lstrip("#").isdigit():
            raise actions.ReviewError("isi nomor data asli (angka)")
        with request.app.state.postgres.connection() as conn:
            actions.mark_duplicate(conn, competition_id, int(original_id.strip().lstrip("#")),
                                   actor=user.username)
    except actions.ReviewError as exc:
        flash(request, str(exc), "error")
        return _back(request, competition_id)
    flash(request, f"#{competition_id} ditandai duplikat dari #{original_id.strip()}.")
    return _back(request, competition_id, "/")


@actions_router.post("/lomba/{competition_id}/poster")
async def poster(request: Request, competition_id: RecordId, file: UploadFile = File(...),
                 user: User = Depends(current_user)):
    data = await file.read(MAX_IMAGE_BYTES + 1)
    app = request.app
    try:
        result = replace_poster(app.state.postgres, app.state.object_store, competition_id, data,
                                actor=user.username, filename=file.filename or "upload")
    except ObjectStoreUnavailable as exc:
        flash(request, f"Poster tidak diganti: {exc}", "error")
        return _back(request, competition_id)
    except (InvalidImage, actions.ReviewError, ValueError) as exc:
        flash(request, f"Poster ditolak: {exc}", "error")
        return _back(request, competition_id)
    flash(request, f"Poster diganti ({len(result.removed_objects)} objek lama dihapus)."
                   + _left_note(result.left_objects))
    return _back(request, competition_id)


def _left_note(left: list[str]) -> str:
    if not left:
        return ""
    return (f" {len(left)} objek lama belum bisa dihapus (penyimpanan tidak menjawab); "
            "`lomba storage gc` akan menghapusnya nanti.")


@actions_router.post("/lomba/{competition_id}/hapus")
def delete(request: Request, competition_id: RecordId, user: User = Depends(admin_user)):
    app = request.app
    try:
        result = delete_record(app.state.postgres, app.state.object_store, competition_id,
                               actor=user.username)
    except actions.ReviewError as exc:
        flash(request, str(exc), "error")
        return redirect("/lomba")
    flash(request, f"#{competition_id} dihapus ({len(result.removed_objects)} objek dihapus)."
                   + _left_note(result.left_objects))
    return redirect("/lomba")


def register(app) -> None:
    app.include_router(public)
    app.include_router(pages)
    app.include_router(actions_router)
