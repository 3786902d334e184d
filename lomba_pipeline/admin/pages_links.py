"""The manual Instagram links form (rows feed the ingestion sensor)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request

from lomba_pipeline.admin.auth import User
from lomba_pipeline.admin.web import csrf_protected, current_user, flash, redirect, render
from lomba_pipeline.catalog.ingestion.links import InvalidLink, submit_link

router = APIRouter(dependencies=[Depends(current_user)])
MAX_LINKS_PER_SUBMIT = 50


@router.get("/tautan")
def links_page(request: Request):
    with request.app.state.postgres.cursor() as cur:
        cur.execute("SELECT * FROM manual_links ORDER BY id DESC LIMIT 100")
        rows = cur.fetchall()
    return render(request, "links.html", {"rows": rows})


@router.post("/tautan", dependencies=[Depends(csrf_protected)])
def submit_links(request: Request, urls: str = Form(""), user: User = Depends(current_user)):
    lines = [line.strip() for line in urls.splitlines() if line.strip()]
    if not lines:
        flash(request, "Tempelkan minimal satu tautan postingan Instagram.", "error")
        return redirect("/tautan")
    if len(lines) > MAX_LINKS_PER_SUBMIT:
        flash(request, f"Maksimal {MAX_LINKS_PER_SUBMIT} tautan sekali kirim.", "error")
        return redirect("/tautan")
    added = known = 0
    for line in lines:
        try:
            with request.app.state.postgres.connection() as conn:
                result = submit_link(conn, line, submitted_by=user.username)
        except InvalidLink as exc:
            flash(request, f"Ditolak: {exc}", "error")
            continue
        added += result.created
        known += not result.created
    if added or known:
        flash(request, f"{added} tautan baru disimpan, {known} sudah pernah dikirim.")
    return redirect("/tautan")


def register(app) -> None:
    app.include_router(router)
