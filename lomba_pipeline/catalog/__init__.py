"""The catalog domain: ingestion, extraction, review."""
