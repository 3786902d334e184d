"""The admin panel application: ``create_app(settings, postgres, object_store, whatsapp)``.

Pages are FastAPI routers rendering Jinja2 templates that extend ``base.html``. Another domain adds
pages by listing a module in ``ADMIN_PAGE_MODULES``; that module exposes ``register(app)`` which
calls :func:`add_pages`::

    router = APIRouter(dependencies=[Depends(current_user)])   # session required

    @router.get("/akun-ig")
    def accounts(request: Request, user: User = Depends(current_user)):
        return render(request, "ig_accounts.html", {"rows": ...})   # {% extends "base.html" %}

    def register(app):
        add_pages(app, router, templates_dir=Path(__file__).parent / "templates",
                  nav=[("Akun IG", "/akun-ig")])

POST routes add ``Depends(csrf_protected)`` and their forms include ``{{ csrf_field() }}``.

``request.session`` is a server-side session (``sessions.py``); ``app.state.clock`` is the panel's
time source (frozen in tests). Errors become pages in Bahasa Indonesia (``errors.py``): bad
parameters 400 (422 on the API), database unreachable 503, anything else a plain 500 page.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import quote

import jinja2
import psycopg2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from lomba_pipeline.admin.auth import (
    CsrfFailed,
    Forbidden,
    LoginRequired,
    csrf_token,
)
from lomba_pipeline.admin.clients import trusted_networks
from lomba_pipeline.admin.clock import Clock, wall_clock
from lomba_pipeline.admin.errors import (
    database_unavailable_response,
    describe_invalid_parameters,
    error_page,
    is_database_unavailable,
)
from lomba_pipeline.admin.input_guard import HostileInputGuard
from lomba_pipeline.admin.sessions import ServerSessionMiddleware, SessionPolicy
from lomba_pipeline.admin.throttle import ThrottlePolicy
from lomba_pipeline.admin.web import (  # noqa: F401  (the page helpers, re-exported)
    add_pages,
    admin_user,
    csrf_protected,
    current_user,
    flash,
    pop_flash,
    redirect,
    render,
    request_client,
    safe_href,
    web_url,
)
from lomba_pipeline.catalog.review.caption import rupiah, tanggal
from lomba_pipeline.resources.whatsapp import whatsapp_targets_from_settings

HERE = Path(__file__).parent

# Modules exposing ``register(app)`` that add pages of other domains.
ADMIN_PAGE_MODULES: list[str] = ["lomba_pipeline.ig_ops.admin_pages"]


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(HERE / "templates"))]),
        autoescape=True,  # every value is text, never markup (captions may hold <script>)
        undefined=jinja2.ChainableUndefined,
    )
    env.filters["tanggal"] = tanggal
    env.filters["rupiah"] = rupiah
    env.filters["href"] = safe_href
    return Jinja2Templates(env=env)


def create_app(settings, postgres, object_store, whatsapp, *,
               clock: Clock | None = None) -> FastAPI:
    """The panel. ``clock`` (default: wall time) drives session expiry, login delays and "today"."""
    from lomba_pipeline.admin import (
        pages_api,
        pages_costs,
        pages_events,
        pages_links,
        pages_media,
        pages_review,
    )

    app = FastAPI(title="Lomba admin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.postgres = postgres
    app.state.object_store = object_store
    app.state.whatsapp = whatsapp
    app.state.whatsapp_targets = whatsapp_targets_from_settings(settings)
    app.state.clock = clock or wall_clock
    app.state.session_policy = SessionPolicy(
        idle_seconds=settings.admin.session_idle_seconds,
        max_seconds=settings.admin.session_max_seconds,
        secure_cookie=settings.admin.cookie_secure,
    )
    app.state.login_throttle = ThrottlePolicy()
    app.state.trusted_proxies = trusted_networks(settings.admin.trusted_proxies)
    app.state.templates = _templates()
    app.state.nav = [
        ("Antrian review", "/"),
        ("Semua data", "/lomba"),
        ("Tautan IG", "/tautan"),
        ("Peristiwa", "/peristiwa"),
        ("Biaya AI", "/biaya-ai"),
    ]
    templates_env = app.state.templates.env
    templates_env.globals["nav"] = app.state.nav

    def csrf_field_for(request: Request):
        return jinja2.utils.markupsafe.Markup(
            f'<input type="hidden" name="csrf_token" value="{jinja2.utils.markupsafe.escape(csrf_token(request))}">'
        )

    templates_env.globals["csrf_field_for"] = csrf_field_for

    # innermost first: sessions, then the input guard, then the headers on every answer
    app.add_middleware(ServerSessionMiddleware)
    app.add_middleware(HostileInputGuard)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response: Response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        if not request.url.path.startswith(("/media/", "/static/")):
            response.headers.setdefault("Cache-Control", "no-store")  # pages hold personal data
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "login required"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect("/login?next=" + quote(target, safe=""))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc):
        return render(request, "error.html",
                      {"title": "Tidak diizinkan", "message": "Hanya admin yang boleh melakukan ini."},
                      status_code=403)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc):
        return render(request, "error.html",
                      {"title": "Formulir ditolak",
                       "message": "Token keamanan (CSRF) tidak ada atau tidak cocok. "
                                  "Muat ulang halaman lalu coba lagi."},
                      status_code=403)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameters(request: Request, exc: RequestValidationError):
        status = 422 if request.url.path.startswith("/api/") else 400
        return error_page(request, "Permintaan tidak valid", describe_invalid_parameters(exc),
                          status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        title, message = {
            404: ("Tidak ditemukan", "Halaman ini tidak ada."),
            405: ("Metode tidak diizinkan", "Alamat ini tidak menerima permintaan seperti itu."),
        }.get(exc.status_code, ("Permintaan ditolak", "Permintaan tidak dapat diproses."))
        return error_page(request, title, message, exc.status_code, headers=exc.headers)

    @app.exception_handler(psycopg2.DataError)
    async def data_error(request: Request, _exc):
        # a value Postgres cannot hold (a number out of range, a bad character) from the request
        return error_page(request, "Permintaan tidak valid",
                          "Salah satu nilai di luar batas yang diizinkan.", 400)

    @app.exception_handler(psycopg2.OperationalError)
    @app.exception_handler(psycopg2.InterfaceError)
    async def database_down(request: Request, _exc):
        return database_unavailable_response(request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        if is_database_unavailable(exc):
            return database_unavailable_response(request)
        return error_page(request, "Terjadi kesalahan",
                          "Terjadi kesalahan di server. Coba lagi, atau hubungi admin jika "
                          "terus terjadi.", 500)

    @app.get("/health", include_in_schema=False)
    def health():
        try:
            with postgres.cursor() as cur:
                cur.execute("SELECT 1")
            return {"status": "ok"}
        except Exception:  # never leak connection details
            return JSONResponse({"status": "database unavailable"}, status_code=503)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (pages_review, pages_links, pages_events, pages_costs, pages_api, pages_media):
        module.register(app)
    for name in ADMIN_PAGE_MODULES:
        importlib.import_module(name).register(app)
    return app
