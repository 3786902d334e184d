"""Scrapers for the catalog sources: config, site parsers, the crawlee runner."""
