"""``/biaya-ai``: what extraction cost per day and provider (the attempts ledger)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from lomba_pipeline.admin.web import current_user, render
from lomba_pipeline.catalog.extraction.store import ai_cost_per_day

router = APIRouter(dependencies=[Depends(current_user)])


@router.get("/biaya-ai")
def costs_page(request: Request, hari: Annotated[int, Query(ge=1, le=366)] = 14):
    with request.app.state.postgres.connection() as conn:
        rows = ai_cost_per_day(conn, days=hari, now=request.app.state.clock())
    days: dict = {}
    for row in rows:
        day = days.setdefault(row["day"], {"rows": [], "cost_usd": 0.0, "calls": 0})
        day["rows"].append(row)
        day["cost_usd"] += row["cost_usd"]
        day["calls"] += row["calls"]
    return render(request, "costs.html", {
        "days": days, "hari": hari, "total": sum(d["cost_usd"] for d in days.values()),
    })


def register(app) -> None:
    app.include_router(router)
