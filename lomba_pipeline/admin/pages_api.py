"""Read-only JSON API for the catalog app: approved, not-yet-expired competitions.

Auth: ``Authorization: Bearer <LOMBA_CATALOG_API_TOKEN>`` when that token is configured, or an
admin session. Nothing but public catalog fields is returned, and link fields only as http(s)
URLs (a scraped ``javascript:`` link becomes null).
"""

from __future__ import annotations

import hmac
from datetime import date

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from lomba_pipeline.admin.auth import LoginRequired
from lomba_pipeline.admin.clock import jakarta_today
from lomba_pipeline.admin.sessions import session_user
from lomba_pipeline.admin.web import web_url

router = APIRouter()
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
URL_FIELDS = ("registration_url", "guidebook_url", "canonical_url")
PUBLIC_FIELDS = (
    "id", "title", "organizer", "description", "start_date", "end_date", "event_start_date",
    "event_end_date", "levels", "categories", "tags", "fee_amount", "prize", "contact",
    "registration_url", "guidebook_url", "location", "is_online", "canonical_url",
)


def _authorised(request: Request) -> None:
    token = request.app.state.settings.admin.catalog_api_token
    header = request.headers.get("authorization", "")
    if token and header.startswith("Bearer "):
        # bytes: compare_digest refuses non-ASCII str, and a header may hold any latin-1 byte
        if hmac.compare_digest(header[7:].strip().encode("utf-8", "surrogatepass"),
                               token.encode()):
            return
        raise LoginRequired()
    if session_user(request) is None:
        raise LoginRequired()


@router.get("/api/v1/competitions")
def competitions(
    request: Request,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    per_page: int = Query(20, ge=1, le=MAX_PER_PAGE),
    level: str | None = Query(None, max_length=100),
    category: str | None = Query(None, max_length=100),
    deadline_from: date | None = None,
    deadline_to: date | None = None,
):
    _authorised(request)
    today = jakarta_today(request.app.state.clock)
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
        for name in URL_FIELDS:
            item[name] = web_url(item[name])
        item["poster_url"] = store.public_url(row["poster_key"]) if row["poster_key"] else None
        items.append(item)
    return JSONResponse({
        "items": items, "page": page, "per_page": per_page, "total": total,
        "has_next": page * per_page < total,
    })


def register(app) -> None:
    app.include_router(router)
