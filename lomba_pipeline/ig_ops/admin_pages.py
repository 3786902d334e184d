"""Instagram-operations pages of the admin panel: the approval queue and the operated accounts.

Registered through ``lomba_pipeline.admin.app.ADMIN_PAGE_MODULES``. Decisions go through
``store.decide_approval`` (the same function as ``lomba approvals``): it locks the row, records an
``ig.approval_*`` event with the user as actor and refuses a second decision, so a double click or
a retried request decides once.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request

from lomba_pipeline.admin.auth import User
from lomba_pipeline.admin.web import (
    add_pages,
    csrf_protected,
    current_user,
    flash,
    redirect,
    render,
)
from lomba_pipeline.ig_ops.clock import JAKARTA, IgClock, jakarta_day
from lomba_pipeline.ig_ops.overview import (
    accounts_overview,
    approval_state,
    pending_approvals_detail,
    recent_decisions,
)
from lomba_pipeline.ig_ops.store import ApprovalError, decide_approval

TEMPLATES = Path(__file__).parent / "templates"

KIND_LABELS = {"comment_reply": "Balasan komentar", "dm_reply": "Balasan DM", "post": "Postingan"}
REASON_LABELS = {
    "llm_draft": "Draf dari AI: selalu dicek manusia",
    "dm_sensitive_word": "DM berisi kata sensitif",
    "post_marked": "Postingan ditandai perlu persetujuan",
    "first_post": "Postingan pertama akun baru",
    "reconcile_unknown": "Tidak pasti sudah terkirim setelah gangguan: cek di Instagram dulu; "
    "jika disetujui, akan dikirim (lagi)",
}
SEND_STATUS_LABELS = {
    "planned": "antre, dikirim putaran berikutnya",
    "sending": "sedang dikirim",
    "done": "terkirim",
    "failed": "gagal",
    "rejected": "tidak dikirim",
    "awaiting_approval": "menunggu persetujuan",
    "unknown": "tidak pasti",
}
DECISION_LABELS = {"approved": "disetujui", "rejected": "ditolak", "pending": "menunggu"}
POST_STATUS_LABELS = {
    "done": "Ya",
    "awaiting_approval": "Belum (menunggu persetujuan)",
    "planned": "Belum (antre)",
    "sending": "Sedang dikirim",
    "failed": "Gagal",
    "rejected": "Tidak (ditolak)",
    "unknown": "Tidak pasti (menunggu persetujuan)",
}

router = APIRouter(dependencies=[Depends(current_user)])


def _clock(request: Request) -> IgClock:
    # the lanes' injectable clock: tests and simulations freeze it, production uses wall time
    return getattr(request.app.state, "ig_clock", None) or IgClock()


def wib(moment, with_day: bool = False) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(JAKARTA)
    return local.strftime("%d-%m-%Y %H:%M WIB" if with_day else "%H:%M WIB")


@router.get("/persetujuan")
def approvals_page(request: Request):
    with request.app.state.postgres.connection() as conn:
        pending = pending_approvals_detail(conn)
        decided = recent_decisions(conn)
    return render(
        request,
        "ig_approvals.html",
        {
            "pending": pending,
            "decided": decided,
            "kinds": KIND_LABELS,
            "reasons": REASON_LABELS,
            "decisions": DECISION_LABELS,
            "send_status": SEND_STATUS_LABELS,
            "wib": wib,
        },
    )


def _decide(request: Request, approval_id: int, approved: bool, user: User):
    try:
        with request.app.state.postgres.connection() as conn:
            decide_approval(conn, approval_id, approved, user.username)
    except ApprovalError:
        with request.app.state.postgres.connection() as conn:
            state = approval_state(conn, approval_id)
        if state is None:
            flash(request, f"Persetujuan #{approval_id} tidak ada.", "error")
        else:
            flash(
                request,
                f"Persetujuan #{approval_id} sudah {DECISION_LABELS[state['status']]} oleh "
                f"{state['decided_by']} ({wib(state['decided_at'], with_day=True)}); "
                "tidak diubah.",
                "error",
            )
        return redirect("/persetujuan")
    if approved:
        flash(request, f"#{approval_id} disetujui: dikirim pada putaran berikutnya.")
    else:
        flash(request, f"#{approval_id} ditolak: tidak akan dikirim.")
    return redirect("/persetujuan")


@router.post("/persetujuan/{approval_id}/setujui", dependencies=[Depends(csrf_protected)])
def approve(request: Request, approval_id: int, user: User = Depends(current_user)):
    return _decide(request, approval_id, True, user)


@router.post("/persetujuan/{approval_id}/tolak", dependencies=[Depends(csrf_protected)])
def reject(request: Request, approval_id: int, user: User = Depends(current_user)):
    return _decide(request, approval_id, False, user)


@router.get("/akun-ig")
def accounts_page(request: Request):
    now = _clock(request).now()
    with request.app.state.postgres.connection() as conn:
        rows = accounts_overview(conn, now)
    for row in rows:
        until = row["cooldown_until"]
        row["cooldown_label"] = (
            wib(until, with_day=jakarta_day(until) != jakarta_day(now)) if until else ""
        )
        row["post_label"] = (
            "Ya" if row["posts"] else POST_STATUS_LABELS.get(row["post_status"], "Belum")
        )
    return render(
        request,
        "ig_accounts.html",
        {"rows": rows, "day": jakarta_day(now), "now_label": wib(now, with_day=True)},
    )


def register(app) -> None:
    add_pages(
        app,
        router,
        templates_dir=TEMPLATES,
        nav=[("Persetujuan IG", "/persetujuan"), ("Akun IG", "/akun-ig")],
    )
