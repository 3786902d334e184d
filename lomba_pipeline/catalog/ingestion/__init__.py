"""Catalog ingestion: web, Instagram profiles and manual links into raw items and posters."""
