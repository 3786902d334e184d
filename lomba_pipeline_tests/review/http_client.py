"""A logged-in HTTP client for the admin panel (what a browser does, without the browser)."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(base_url: str, username: str, password: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20)
    page = client.get("/login")
    token = csrf_from(page.text)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token, "next": "/"})
    assert response.status_code == 303, response.text[:500]
    token = csrf_from(client.get("/").text)  # the token is rotated at login
    return client, token


def login_status(base_url: str, username: str, password: str, **client_options) -> int:
    """One login attempt from a fresh browser; the answer's status (303 = signed in)."""
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=20,
                      **client_options) as client:
        token = csrf_from(client.get("/login").text)
        return client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token}).status_code
