"""Error pages of the admin panel: a clear message in Bahasa Indonesia, never a traceback.

Pages get ``error.html``; the JSON API (``/api/``) gets ``{"error": ...}``.
"""

from __future__ import annotations

import psycopg2
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

DATABASE_DOWN_TITLE = "Layanan sedang tidak tersedia"
DATABASE_DOWN_MESSAGE = ("Basis data sedang tidak dapat dihubungi. Tidak ada data yang hilang; "
                         "coba lagi beberapa saat lagi.")
RETRY_AFTER_SECONDS = 30


def is_database_unavailable(exc: BaseException) -> bool:
    """Connection refused or lost, server shutting down: the database, not the request."""
    return isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError))


def error_page(request: Request, title: str, message: str, status_code: int,
               headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status_code, headers=headers)
    user = getattr(request.state, "user", None)
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message, "user": user, "flash": []},
        status_code=status_code, headers=headers,
    )


def database_unavailable_response(request: Request) -> Response:
    return error_page(request, DATABASE_DOWN_TITLE, DATABASE_DOWN_MESSAGE, 503,
                      headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def describe_invalid_parameters(exc: RequestValidationError) -> str:
    """``page: harus ≤ 100000`` style text naming each bad parameter (never echoing its value)."""
    parts = []
    for error in exc.errors()[:5]:
        name = ".".join(str(p) for p in error.get("loc", ())[1:]) or "permintaan"
        ctx = error.get("ctx") or {}
        kind = error.get("type", "")
        if "le" in ctx:
            reason = f"harus ≤ {ctx['le']}"
        elif "ge" in ctx:
            reason = f"harus ≥ {ctx['ge']}"
        elif kind == "missing":
            reason = "wajib diisi"
        elif kind.startswith("int"):
            reason = "harus bilangan bulat"
        elif kind.startswith("date"):
            reason = "harus tanggal YYYY-MM-DD"
        else:
            reason = "tidak valid"
        parts.append(f"{name}: {reason}")
    return "Parameter tidak valid — " + "; ".join(parts)
