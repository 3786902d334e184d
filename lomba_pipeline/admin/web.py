"""What every admin page uses: the session user, CSRF, rendering, flashes, safe links.

Pages (``pages_*.py`` and other domains' modules) import these from here; ``app.py`` builds the
application and imports the pages, so the pages never import the application module.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse

from lomba_pipeline.admin.auth import Forbidden, LoginRequired, User, check_csrf
from lomba_pipeline.admin.clients import client_address
from lomba_pipeline.admin.sessions import session_user

# -- dependencies shared by every page ------------------------------------------------------

def current_user(request: Request) -> User:
    # the session middleware found a live session row (revoked/expired/disabled ones are gone)
    user = session_user(request)
    if user is None:
        raise LoginRequired()
    request.state.user = user
    return user


def request_client(request: Request) -> str:
    """The client address, believing X-Forwarded-For only from trusted proxies."""
    return client_address(request, request.app.state.trusted_proxies)


def admin_user(user: User = Depends(current_user)) -> User:
    if not user.is_admin:
        raise Forbidden()
    return user


async def csrf_protected(request: Request) -> None:
    await check_csrf(request)


def render(request: Request, template: str, context: dict | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None):
    ctx = {"user": getattr(request.state, "user", None), "flash": pop_flash(request)}
    ctx.update(context or {})
    return request.app.state.templates.TemplateResponse(
        request, template, ctx, status_code=status_code, headers=headers
    )


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", [])
    # stored in the session row (jsonb), which cannot hold NUL
    text = message.replace("\x00", "")[:500]
    request.session["flash"] = request.session["flash"][-4:] + [[kind, text]]


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


def web_url(url: str | None) -> str | None:
    """The URL when it is an http(s) link with a host, else None (``javascript:``, ``data:``...)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and host else None


def safe_href(url: str | None) -> str:
    """Only http(s) links become clickable: a scraped ``javascript:`` URL must not run."""
    return web_url(url) or "#"
