"""The local object store served under ``/media`` (R2 serves its own public URLs).

Public on purpose: these are the public poster URLs WhatsApp (WAHA) and the catalog app fetch.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from lomba_pipeline.resources.object_store import LocalObjectStore, validate_key

router = APIRouter()


@router.get("/media/{key:path}")
def media(request: Request, key: str):
    store = request.app.state.object_store
    if not isinstance(store, LocalObjectStore):
        return JSONResponse({"error": "media is served by the object store"}, status_code=404)
    try:
        validate_key(key)
    except ValueError:
        return JSONResponse({"error": "invalid key"}, status_code=404)
    path = Path(store.root) / key
    if not path.is_file():
        return JSONResponse({"error": "not found"}, status_code=404)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})


def register(app) -> None:
    app.include_router(router)
