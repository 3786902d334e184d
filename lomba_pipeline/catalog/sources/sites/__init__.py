"""The site types ``sources.yaml`` can name, one module each; adding one is a module here plus
its line in ``SITE_TYPES``."""

from __future__ import annotations

from lomba_pipeline.catalog.sources.sites import blogger, generic, infolomba
from lomba_pipeline.catalog.sources.sites.base import SiteType

SITE_TYPES: dict[str, SiteType] = {
    site.name: site for site in (infolomba.SITE, blogger.SITE, generic.SITE)
}


def site_type_of(source) -> SiteType:
    try:
        return SITE_TYPES[source.type]
    except (KeyError, AttributeError):
        raise TypeError(f"unknown source type {type(source).__name__}") from None
