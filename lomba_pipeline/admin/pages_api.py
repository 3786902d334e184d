"""Read-only JSON API for the catalog app: approved, not-yet-expired competitions.

Auth: ``Authorization: Bearer <LOMBA_CATALOG_API_TOKEN>`` when that token is configured, or an
admin session. Nothing but public catalog fields is returned.
"""

from __future__ import annotations

import hmac
from datetime import date

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from lomba_pipeline.admin.auth import LoginRequired, load_user
from lomba_pipeline.catalog.review.broadcast import today_in_jakarta

router = APIRouter()
MAX_PER_PAGE = 100
PUBLIC_FIELDS = (
    "id", "title", "organizer", "description", "start_date", "end_date", "event_start_date",
    "event_end_date", "levels", "categories", "tags", "fee_amount", "prize", "contact",
    "registration_url", "guidebook_url", "location", "is_online", "canonical_url",
)


def _authorised(request: Request) -> None:
    token = request.app.state.settings.catalog_api_token
    header = request.headers.get("authorization", "")
    if token and header.startswith("Bearer "):
        if hmac.compare_digest(header[7:].strip(), token):
            return
        raise LoginRequired()
    uid = request.session.get("uid")
    if isinstance(uid, int):
        with request.app.state.postgres.connection() as conn:
            if load_user(conn, uid):
                return
    raise LoginRequired()


@router.get("/api/v1/competitions")
def competitions(
    request: Request,
    page: int = Query(1, ge=1),
    per_page: int = Query(20, ge=1, le=MAX_PER_PAGE),
    level: str | None = None,
    category: str | None = None,
    deadline_from: date | None = None,
    deadline_to: date | None = None,
):
    _authorised(request)
    today = today_in_jakarta()
    clauses = ["c.review_status = 'approved'", "(c.end_date IS NULL OR c.end_date >= %(today)s)"]
    params: dict = {"today": today}
    if level:
        clauses.append("%(level)s = ANY(c.levels)")
        params["level"] = level
    if category:
        clauses.append("%(category)s = ANY(c.categories)")
        params["category"] = category
    if deadline_from:
        clauses.append("c.end_date >= %(deadline_from)s")
        params["deadline_from"] = deadline_from
    if deadline_to:
        clauses.append("c.end_date <= %(deadline_to)s")
        params["deadline_to"] = deadline_to
    where = " AND ".join(clauses)
    store = request.app.state.object_store
    with request.app.state.postgres.cursor() as cur:
        cur.execute(f"SELECT count(*) AS n FROM competitions c WHERE {where}", params)
        total = cur.fetchone()["n"]
        cur.execute(
            f"""
            SELECT {", ".join("c." + f for f in PUBLIC_FIELDS)}, i.object_key AS poster_key
            FROM competitions c LEFT JOIN images i ON i.id = c.image_id
            WHERE {where}
            ORDER BY c.end_date NULLS LAST, c.id
            LIMIT %(limit)s OFFSET %(offset)s
            """,
            {**params, "limit": per_page, "offset": (page - 1) * per_page},
        )
        rows = cur.fetchall()
    items = []
    for row in rows:
        item = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()
                if k != "poster_key"}
        item["poster_url"] = store.public_url(row["poster_key"]) if row["poster_key"] else None
        items.append(item)
    return JSONResponse({
        "items": items, "page": page, "per_page": per_page, "total": total,
        "has_next": page * per_page < total,
    })


def register(app) -> None:
    app.include_router(router)
