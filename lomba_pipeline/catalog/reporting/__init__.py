"""The nightly catalog report: the day's scrapes, extraction, cost and review, as metadata."""
