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
"""

from __future__ import annotations

import importlib
from pathlib import Path
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from lomba_pipeline.admin.auth import (
    CsrfFailed,
    Forbidden,
    LoginRequired,
    User,
    check_csrf,
    csrf_token,
    load_user,
)
from lomba_pipeline.catalog.review.caption import rupiah, tanggal

HERE = Path(__file__).parent
SESSION_COOKIE = "lomba_admin"
SESSION_MAX_AGE = 12 * 3600

# Modules exposing ``register(app)`` that add pages of other domains.
ADMIN_PAGE_MODULES: list[str] = ["lomba_pipeline.ig_ops.admin_pages"]


# -- dependencies shared by every page ------------------------------------------------------

def current_user(request: Request) -> User:
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        raise LoginRequired()
    with request.app.state.postgres.connection() as conn:
        user = load_user(conn, uid)
    if user is None:  # deleted or disabled since the cookie was issued
        request.session.clear()
        raise LoginRequired()
    request.state.user = user
    return user


def admin_user(user: User = Depends(current_user)) -> User:
    if not user.is_admin:
        raise Forbidden()
    return user


async def csrf_protected(request: Request) -> None:
    await check_csrf(request)


def render(request: Request, template: str, context: dict | None = None, status_code: int = 200):
    ctx = {"user": getattr(request.state, "user", None), "flash": pop_flash(request)}
    ctx.update(context or {})
    return request.app.state.templates.TemplateResponse(
        request, template, ctx, status_code=status_code
    )


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", [])
    request.session["flash"] = request.session["flash"][-4:] + [[kind, message[:500]]]


def pop_flash(request: Request) -> list:
    return request.session.pop("flash", []) if "session" in request.scope else []


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def add_pages(app: FastAPI, router: APIRouter, *, templates_dir: Path | None = None,
              nav: list[tuple[str, str]] | None = None) -> None:
    """Mount another domain's router, its templates and its navigation entries."""
    app.include_router(router)
    if templates_dir is not None:
        loader = app.state.templates.env.loader
        loader.loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    app.state.nav.extend(nav or [])


# -- the application -------------------------------------------------------------------------

def safe_href(url: str | None) -> str:
    """Only http(s) links become clickable: a scraped ``javascript:`` URL must not run."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return "#"


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


def create_app(settings, postgres, object_store, whatsapp) -> FastAPI:
    from lomba_pipeline.admin import pages_api, pages_events, pages_links, pages_media, pages_review

    app = FastAPI(title="Lomba admin", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.postgres = postgres
    app.state.object_store = object_store
    app.state.whatsapp = whatsapp
    app.state.templates = _templates()
    app.state.nav = [
        ("Antrian review", "/"),
        ("Semua data", "/lomba"),
        ("Tautan IG", "/tautan"),
        ("Peristiwa", "/peristiwa"),
    ]
    templates_env = app.state.templates.env
    templates_env.globals["nav"] = app.state.nav

    def csrf_field_for(request: Request):
        return jinja2.utils.markupsafe.Markup(
            f'<input type="hidden" name="csrf_token" value="{jinja2.utils.markupsafe.escape(csrf_token(request))}">'
        )

    templates_env.globals["csrf_field_for"] = csrf_field_for

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.admin_secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.admin_cookie_secure,
    )

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

    @app.get("/health", include_in_schema=False)
    def health():
        try:
            with postgres.cursor() as cur:
                cur.execute("SELECT 1")
            return {"status": "ok"}
        except Exception:  # never leak connection details
            return JSONResponse({"status": "database unavailable"}, status_code=503)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (pages_review, pages_links, pages_events, pages_api, pages_media):
        module.register(app)
    for name in ADMIN_PAGE_MODULES:
        importlib.import_module(name).register(app)
    return app
