"""The events timeline, filterable by kind prefix, actor and subject."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from lomba_pipeline.admin.web import current_user, render
from lomba_pipeline.db.events import list_events

router = APIRouter(dependencies=[Depends(current_user)])
PAGE_SIZE = 100


@router.get("/peristiwa")
def events_page(request: Request, kind: Annotated[str, Query(max_length=200)] = "",
                actor: Annotated[str, Query(max_length=200)] = "",
                subject: Annotated[str, Query(max_length=200)] = "",
                before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None):
    with request.app.state.postgres.connection() as conn:
        events = list_events(conn, kind_prefix=kind.strip() or None, actor=actor.strip() or None,
                             subject=subject.strip() or None, limit=PAGE_SIZE, before_id=before)
    for event in events:
        event["data_text"] = json.dumps(event["data"], ensure_ascii=False, default=str)[:2000]
    return render(request, "events.html", {
        "events": events, "kind": kind, "actor": actor, "subject": subject,
        "next_before": events[-1]["id"] if len(events) == PAGE_SIZE else None,
    })


def register(app) -> None:
    app.include_router(router)
