"""The outbound-fetch policy against hostile SYNTHETIC sites on loopback.

The hostile site itself is allowed (``127.0.0.1:ITS_PORT``), as a deployment allows a local
mirror. Its cards, posters and redirects point at a second loopback listener, the "victim", which
is NOT on the allow-list, and at private, link-local and multicast addresses. The victim must see
no request at all, and the items must still be stored, without posters, each with a reason.
"""

from __future__ import annotations

import asyncio
import html

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from lomba_pipeline.catalog.ingestion.service import ingest_web, store_posters, window_for_key
from lomba_pipeline.catalog.sources.config import load_sources
from lomba_pipeline.catalog.sources.items import ScrapedItem
from lomba_pipeline.db import raw_items
from lomba_pipeline.demo.site import poster_png
from lomba_pipeline.local_server import LocalServer
from lomba_pipeline.resources.outbound import (
    AllowListError,
    OutboundClient,
    OutboundDeadline,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
)
from lomba_pipeline.resources.poster_fetch import PosterFetcher

WINDOW = window_for_key("2026-11-03-06:00")


class Listener:
    """A loopback server that records every request it gets (the victim)."""

    def __init__(self):
        self.hits: list[str] = []

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            self.hits.append(f"{scope['method']} {scope['path']}")
            body = b"internal secret: db password hunter2"
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"image/png")]})
            await send({"type": "http.response.body", "body": body})

        self.server = LocalServer(app, name="victim")

    def __enter__(self) -> Listener:
        self.server.start()
        self.url = self.server.url
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def __exit__(self, *exc):
        self.server.stop()


class HostileSite:
    """A generic catalog whose card links and posters aim at internal addresses, plus drip-feed
    and endless posters."""

    def __init__(self, cards: list[tuple[str, str]]):
        self.cards = cards  # (link, poster)
        self.requests: list[str] = []

    async def katalog(self, request: Request) -> Response:
        items = "".join(
            f'<article class="c"><h2><a href="{html.escape(link)}">Lomba {n}</a></h2>'
            f'<img src="{html.escape(poster)}"></article>'
            for n, (link, poster) in enumerate(self.cards, 1)
        )
        return HTMLResponse(f"<html><body>{items}</body></html>")

    async def go(self, request: Request) -> Response:
        return RedirectResponse(request.query_params["to"], status_code=302)

    async def loop(self, request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    async def poster(self, request: Request) -> Response:
        return Response(poster_png(7), media_type="image/png")

    async def drip(self, request: Request) -> Response:
        async def one_byte_at_a_time():
            for _ in range(600):  # ~5 minutes if nobody hangs up
                yield b"\x89"
                await asyncio.sleep(0.5)

        return StreamingResponse(one_byte_at_a_time(), media_type="image/png")

    async def endless(self, request: Request) -> Response:
        async def forever():
            for _ in range(10_000):  # 4 KB every 50 ms: far below the byte cap per second
                yield b"\0" * 4096
                await asyncio.sleep(0.05)

        return StreamingResponse(forever(), media_type="image/png")

    def app(self):
        inner = Starlette(routes=[
            Route("/katalog", self.katalog), Route("/go", self.go), Route("/loop", self.loop),
            Route("/poster.png", self.poster), Route("/drip.png", self.drip),
            Route("/endless.png", self.endless), Route("/drip-page", self.drip),
        ])

        async def recording(scope, receive, send):
            if scope["type"] == "http":
                self.requests.append(f"{scope['method']} {scope['path']}")
            await inner(scope, receive, send)

        return recording

    def __enter__(self) -> HostileSite:
        self.server = LocalServer(self.app(), name="hostile site").start()
        self.url = self.server.url
        self.host_port = self.url.split("://", 1)[1]
        return self

    def __exit__(self, *exc):
        self.server.stop()


def internal_targets(victim: Listener) -> list[str]:
    v = victim.port
    return [
        f"http://127.0.0.1:{v}/secret",
        f"http://localhost:{v}/secret",  # a name that resolves to loopback
        f"http://[::ffff:127.0.0.1]:{v}/secret",  # IPv4-mapped IPv6
        f"http://2130706433:{v}/secret",  # 127.0.0.1 written as one number
        f"http://0.0.0.0:{v}/secret",  # "unspecified" reaches this machine on Linux
        f"http://[::1]:{v}/secret",
        "http://169.254.169.254/latest/meta-data/iam/",  # cloud metadata
        "http://10.0.0.7/admin",
        f"/go?to=http://127.0.0.1:{v}/secret",  # the allowed site redirects inward
        "/go?to=file:///etc/passwd",
        "/loop",  # redirects forever
        "http://224.0.0.1/multicast",
    ]


def rows(postgres, sql="SELECT * FROM raw_items ORDER BY id"):
    with postgres.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


@pytest.mark.timeout(120)
def test_hostile_cards_posters_and_redirects_never_reach_an_internal_address(
    postgres, local_store, tmp_path
):
    with Listener() as victim:
        targets = internal_targets(victim)
        # each card links to one internal target; its poster to another one
        cards = [(t, targets[(i + 3) % len(targets)]) for i, t in enumerate(targets)]
        with HostileSite(cards) as site:
            policy = OutboundPolicy.from_setting(site.host_port, deadline_seconds=5)
            sources = tmp_path / "sources.yaml"
            sources.write_text(f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 2, request_timeout_seconds: 5}}
web:
  - name: jahat
    type: generic
    list_urls: ["{site.url}/katalog"]
    item: article.c
    title: "h2 a::text"
    link: "h2 a::attr(href)"
    image: "img::attr(src)"
    detail: {{description: "body ::text"}}
""")
            lines: list[str] = []
            [report] = ingest_web(postgres, load_sources(sources), WINDOW, lines.append, policy)
            # Instagram media URLs reach the same poster fetcher
            with postgres.connection() as conn:
                raw_items.store_items(conn, [ScrapedItem(
                    "ig", "akun.jahat", "https://www.instagram.com/p/JAHAT12345/",
                    caption="[SINTETIS]", image_url=f"http://127.0.0.1:{victim.port}/ig.jpg",
                )], WINDOW.start)
            with PosterFetcher(policy) as fetcher:
                posters = store_posters(postgres, local_store, fetcher, lines.append)
        assert victim.hits == []

    stored = [r for r in rows(postgres) if r["source_name"] == "jahat"]
    assert report.new == len(targets) == len(stored)  # every card kept, from its list entry
    for row in stored:
        # the card's own link was never fetched: the detail error says why
        assert "OutboundRefused" in row["hints"]["detail_error"], row["hints"]
        assert row["caption"] is None and row["image_id"] is None
        assert "refused" in row["image_error"] or "redirect" in row["image_error"]
    reasons = " | ".join(r["hints"]["detail_error"] for r in stored)
    for expected in ("a loopback address", "a private address", "a link-local address",
                     "a multicast address", "an unspecified address", "only http(s)",
                     "more than 5 redirects", "after 1 redirect(s)"):
        assert expected in reasons, expected
    ig = next(r for r in rows(postgres) if r["source_name"] == "akun.jahat")
    assert ig["image_id"] is None and "a loopback address" in ig["image_error"]
    assert posters.stored == 0 and len(posters.errors) == len(targets) + 1
    # a refusal is final: no card link was retried although max_request_retries is 2
    assert site.requests.count("GET /go") == 2 + 2  # 2 card links + 2 posters through /go
    assert any("poster rejected" in line and "refused" in line for line in lines)


@pytest.mark.timeout(120)
def test_drip_feed_and_endless_posters_end_at_the_deadline_and_the_pass_goes_on(
    postgres, local_store
):
    with HostileSite([]) as site:
        items = [
            ScrapedItem("web", "lambat", f"https://lambat.example/{name}", title=name,
                        image_url=f"{site.url}/{name}.png")
            for name in ("drip", "endless", "poster")
        ]
        with postgres.connection() as conn:
            raw_items.store_items(conn, items, WINDOW.start)
        policy = OutboundPolicy.from_setting(site.host_port, deadline_seconds=1.5)
        with PosterFetcher(policy) as fetcher:
            report = store_posters(postgres, local_store, fetcher, lambda _: None)
    errors = {r["title"]: r["image_error"] for r in rows(postgres)}
    assert "no complete answer within the 1.5 s deadline" in errors["drip"]
    assert "no complete answer within the 1.5 s deadline" in errors["endless"]
    assert errors["poster"] is None and report.stored == 1  # the pass went on


@pytest.mark.timeout(120)
def test_a_drip_feed_page_ends_at_the_deadline_and_other_sources_complete(postgres, tmp_path):
    with HostileSite([("/poster.png", "/poster.png")]) as site:
        sources = tmp_path / "sources.yaml"
        sources.write_text(f"""
crawl: {{per_host_delay_seconds: 0, max_request_retries: 0, request_timeout_seconds: 1.5}}
web:
  - {{name: lambat, type: generic, list_urls: ["{site.url}/drip-page"], item: a, title: "::text",
     link: "::attr(href)"}}
  - {{name: cepat, type: generic, list_urls: ["{site.url}/katalog"], item: article.c,
     title: "h2 a::text", link: "h2 a::attr(href)"}}
""")
        policy = OutboundPolicy.from_setting(site.host_port)
        reports = {r.name: r for r in ingest_web(
            postgres, load_sources(sources), WINDOW, lambda _: None, policy)}
    assert reports["lambat"].status == "unreachable"
    assert "deadline" in reports["lambat"].errors[0]
    assert (reports["cepat"].status, reports["cepat"].new) == ("ok", 1)


def test_the_connection_goes_to_the_checked_address_not_to_a_second_dns_answer():
    """DNS rebinding: the first answer is public, every later one is loopback. The fetch must
    connect to the address it checked, so the loopback victim is never reached."""
    with Listener() as victim:
        answers: list[str] = []

        def rebinding_dns(host: str, port: int) -> list[str]:  # a hostile DNS server
            answers.append(host)
            return ["93.184.216.34"] if len(answers) == 1 else ["127.0.0.1"]

        policy = OutboundPolicy(deadline_seconds=1, resolver=rebinding_dns)
        client = OutboundClient(policy)
        with pytest.raises(OutboundError):
            client.fetch(f"http://rebind.example:{victim.port}/secret", max_bytes=1000)
        client.close()
        assert victim.hits == []
        assert answers == ["rebind.example"]  # resolved once: no second lookup to swap in


def test_a_name_with_any_internal_address_is_refused_before_connecting():
    policy = OutboundPolicy(resolver=lambda host, port: ["93.184.216.34", "10.0.0.1"])
    with pytest.raises(OutboundRefused, match="resolves to 10.0.0.1, which is a private"):
        OutboundClient(policy).fetch("https://mixed.example/p.png", max_bytes=10)


@pytest.mark.parametrize(
    "setting, allowed, mapped",
    [
        ("127.0.0.1:8080", {("127.0.0.1", 8080)}, ()),
        ("localhost, [::1]:9000  mirror.lan", {("localhost", None), ("::1", 9000),
                                                ("mirror.lan", None)}, ()),
        ("Infolomba.Demo.Test=127.0.0.1:18765", set(), (("infolomba.demo.test", "127.0.0.1",
                                                          18765),)),
    ],
)
def test_the_allow_list_setting_is_read_as_written(setting, allowed, mapped):
    policy = OutboundPolicy.from_setting(setting)
    assert (set(policy.allowed), policy.mapped) == (allowed, mapped)
    assert OutboundPolicy.from_setting(policy.as_setting()) == policy


@pytest.mark.parametrize("setting", ["host:99999", "name=not-an-ip:80", "name=10.0.0.1", ":80"])
def test_a_bad_allow_list_entry_is_named(setting):
    with pytest.raises(AllowListError, match=rf"LOMBA_FETCH_ALLOW_HOSTS: entry '{setting}'"):
        OutboundPolicy.from_setting(setting)


def test_an_allowed_host_is_allowed_only_on_its_port():
    with Listener() as victim, Listener() as other:
        policy = OutboundPolicy.from_setting(f"127.0.0.1:{victim.port}", deadline_seconds=5)
        client = OutboundClient(policy)
        assert client.fetch(f"{victim.url}/ok", max_bytes=1000).status == 200
        with pytest.raises(OutboundRefused, match="loopback"):
            client.fetch(f"{other.url}/no", max_bytes=1000)
        client.close()
        assert (victim.hits, other.hits) == (["GET /ok"], [])


def test_a_body_over_the_byte_cap_is_refused():
    with HostileSite([]) as site:
        client = OutboundClient(OutboundPolicy.from_setting(site.host_port))
        with pytest.raises(OutboundError, match="too large"):
            client.fetch(f"{site.url}/poster.png", max_bytes=100)
        client.close()


def test_a_deadline_error_is_its_own_kind():
    with HostileSite([]) as site:
        client = OutboundClient(
            OutboundPolicy.from_setting(site.host_port, deadline_seconds=0.8)
        )
        with pytest.raises(OutboundDeadline):
            client.fetch(f"{site.url}/drip.png", max_bytes=10**6)
        client.close()


def test_a_hanging_name_lookup_ends_at_the_deadline():
    import threading

    release = threading.Event()

    def silent_dns(host: str, port: int) -> list[str]:  # a DNS server that never answers
        release.wait(30)
        return ["93.184.216.34"]

    client = OutboundClient(OutboundPolicy(deadline_seconds=0.5, resolver=silent_dns))
    try:
        with pytest.raises(OutboundDeadline):
            client.fetch("https://lambat.example/p.png", max_bytes=10)
    finally:
        release.set()
        client.close()
