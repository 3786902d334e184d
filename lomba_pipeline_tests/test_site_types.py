"""Site types live one module each behind ``SiteType``; the crawl loop knows none of them.

A new site type is its module plus its registration: here one is written in the test (a JSON
list endpoint with a detail URL per entry), registered, and crawled by the unchanged loop against
a local SYNTHETIC server, with politeness, the outbound policy, known-card skips and failures
handled by the shared code."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime
from typing import Literal

import pytest
from pydantic import HttpUrl
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lomba_pipeline.catalog.sources import config as sources_config
from lomba_pipeline.catalog.sources.config import CrawlSettings
from lomba_pipeline.catalog.sources.crawl_pass import BASE_HEADERS, ENTRY, CrawlPass
from lomba_pipeline.catalog.sources.sites import SITE_TYPES
from lomba_pipeline.catalog.sources.sites.base import SiteType
from lomba_pipeline.catalog.sources.source_model import WebSourceBase
from lomba_pipeline.catalog.sources.web_crawl import crawl_web
from lomba_pipeline.local_server import LocalServer
from lomba_pipeline.resources.outbound import OutboundPolicy

NOW = datetime(2026, 11, 3, tzinfo=UTC)


# -- a site type written the way sites/*.py are ---------------------------------------------------
class JsonListSource(WebSourceBase):
    type: Literal["jsonlist"]
    base_url: HttpUrl


def start_requests(crawl: CrawlPass, source: JsonListSource) -> list:
    from crawlee import Request

    url = str(source.base_url).rstrip("/") + "/list.json"
    return [Request.from_url(url, headers=BASE_HEADERS, label="jsonlist:list",
                             user_data=crawl.user_data(source, ENTRY))]


async def on_list(crawl: CrawlPass, ctx) -> None:
    from crawlee import Request

    source = crawl.source(ctx)
    crawl.outcome(ctx).pages += 1
    listings = [
        {"url": e["url"], "title": e["title"], "hints": {}}
        for e in json.loads(await crawl.body(ctx))["entries"]
    ]
    requests, _ = crawl.take_cards(
        ctx,
        listings,
        lambda listing: Request.from_url(listing["url"], label="jsonlist:detail",
                                         user_data=crawl.detail_data(source, listing)),
        seen_key="url",
    )
    await ctx.add_requests(requests)


async def on_detail(crawl: CrawlPass, ctx) -> None:
    crawl.outcome(ctx).pages += 1
    text = (await crawl.body(ctx)).decode()
    crawl.add_detail(ctx, caption=text, image_url=None, hints={}, problems=[])


JSONLIST = SiteType(
    name="jsonlist",
    source_model=JsonListSource,
    start_requests=start_requests,
    handlers={"jsonlist:list": on_list, "jsonlist:detail": on_detail},
)


def json_site(missing: set[int] = frozenset()) -> Starlette:
    async def listing(request):
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {"entries": [{"url": f"{base}/lomba/{n}", "title": f"Lomba {n}"} for n in range(4)]}
        )

    async def detail(request):
        n = int(request.path_params["n"])
        if n in missing:
            return Response(b"gone", status_code=404)
        return Response(f"[SINTETIS] isi lomba {n}".encode(), media_type="text/plain")

    return Starlette(routes=[Route("/list.json", listing), Route("/lomba/{n}", detail)])


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(SITE_TYPES, JSONLIST.name, JSONLIST)


def crawl(server, **kwargs):
    source = JsonListSource(name="json", type="jsonlist", base_url=server.url)
    settings = CrawlSettings(per_host_delay_seconds=0, max_request_retries=0)
    policy = OutboundPolicy.from_setting(server.url.split("://", 1)[1])
    return crawl_web([source], settings, NOW, policy, **kwargs)["json"]


def test_a_registered_site_type_is_crawled_by_the_unchanged_loop(registered):
    with LocalServer(json_site(missing={2})) as server:
        first = crawl(server)
        by_url = {i.url: i for i in first.items}
        assert sorted(by_url) == [f"{server.url}/lomba/{n}" for n in range(4)]
        assert by_url[f"{server.url}/lomba/0"].caption == "[SINTETIS] isi lomba 0"
        # a failed detail keeps its card, marked: the shared failure handling, not the type's
        missing = by_url[f"{server.url}/lomba/2"]
        assert missing.caption is None and "HTTP 404" in missing.hints["detail_error"]
        # known complete cards skip their detail: the shared card-hash step
        known = {i.canonical_url: i.card_hash for i in first.items if i.caption}
        again = crawl(server, known_details=known)
    assert again.details_skipped == 3 and len(again.items) == 4
    # only the one still missing was asked again (and failed again)
    assert again.errors == [missing.hints["detail_error"]]


def test_an_unreachable_entry_page_marks_the_source_unreachable(registered):
    with LocalServer(Starlette(routes=[])) as server:
        outcome = crawl(server)
    assert outcome.status == "unreachable" and "HTTP 404" in outcome.unreachable


def test_every_configurable_type_has_its_module_and_labels_never_collide():
    union = typing.get_args(typing.get_args(sources_config.WebSource)[0])
    configurable = {typing.get_args(m.model_fields["type"].annotation)[0] for m in union}
    assert configurable == set(SITE_TYPES) == {"infolomba", "blogger", "generic"}
    labels = [label for site in SITE_TYPES.values() for label in site.handlers]
    assert len(labels) == len(set(labels))
    assert all(label.startswith(f"{name}:") for name, s in SITE_TYPES.items() for label in s.handlers)

