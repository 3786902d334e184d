"""The one interface a site type implements: its config entry, its first requests, its handlers.

A handler gets the pass (``CrawlPass``: outcomes, known cards, validators, budget) and crawlee's
context of one answered request; it parses the page, records items or errors on the source's
outcome, and queues what the page leads to. Request labels are prefixed with the type's name, so
handlers of different site types never collide in the crawler's router.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from lomba_pipeline.catalog.sources.crawl_pass import CrawlPass
from lomba_pipeline.catalog.sources.source_model import WebSourceBase

Handler = Callable[[CrawlPass, object], Awaitable[None]]


@dataclass(frozen=True)
class SiteType:
    name: str  # the ``type:`` value of its entries in sources.yaml
    source_model: type[WebSourceBase]  # the validated shape of one entry
    start_requests: Callable[[CrawlPass, WebSourceBase], list]  # what a pass asks first
    handlers: Mapping[str, Handler]  # request label -> handler of its answer
