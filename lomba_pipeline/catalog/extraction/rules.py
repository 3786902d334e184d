"""The offline rules provider: caption text (+ the source's structured hints) → record.

The default when no AI key is set, and a cross-check that fills what an AI provider left empty.
It never calls out of the process.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lomba_pipeline.catalog.extraction import text_rules as tr
from lomba_pipeline.catalog.extraction.dates import find_date_mentions
from lomba_pipeline.catalog.extraction.record import CompetitionRecord

PROVIDER = "rules"
# Extraction reads at most this much of a caption or a hint (the full text stays in the raw
# item's payload): the work per item is bounded whatever a scraped page holds.
EXTRACTION_TEXT_LIMIT = 20_000
# provenance key holding the signals that decided is_competition
COMPETITION_SIGNALS_KEY = "is_competition:signals"


def text_for_extraction(text: str | None, limit: int = EXTRACTION_TEXT_LIMIT) -> str | None:
    """``text`` cut to ``limit`` characters (at a word boundary when one is near)."""
    if text is None or len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ", limit - 200)
    return cut[:space] if space > 0 else cut


def capped_hints(hints: dict[str, Any] | None, limit: int = EXTRACTION_TEXT_LIMIT) -> dict[str, Any]:
    return {k: text_for_extraction(v, limit) if isinstance(v, str) else v
            for k, v in (hints or {}).items()}


def _hint(hints: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = hints.get(name)
        if isinstance(value, str) and value.strip():
            return tr.normalise(value).strip()
    return None


def _iso_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def extract_with_rules(
    caption: str | None,
    posted_at: dt.date | dt.datetime | None = None,
    hints: dict[str, Any] | None = None,
    title: str | None = None,
) -> CompetitionRecord:
    """Read every field the rules can find; fields they cannot find stay empty."""
    if isinstance(posted_at, dt.datetime):
        posted_at = posted_at.date()
    hints = hints or {}
    text = tr.normalise(caption)
    body = tr.without_hashtags(text)
    record = CompetitionRecord()

    record.title = _hint(hints, "title") or tr.normalise(title).strip() or tr.find_title(text)
    description = _hint(hints, "description") or body.strip()
    record.description = description[:2000] or None
    record.organizer = _hint(hints, "organizer", "penyelenggara") or tr.find_organizer(text)

    _fill_dates(record, text, posted_at, hints)

    fee_hint = _hint(hints, "fee", "biaya", "htm")
    record.fee_amount, record.fee_waves = tr.find_fee(text, fee_hint, posted_at)
    waves_with_dates = [w for w in record.fee_waves if w.end_date]
    if waves_with_dates:
        # registration waves: the first wave opens registration, the last one closes it
        record.start_date = min(w.start_date for w in waves_with_dates)
        wave_end = max(w.end_date for w in waves_with_dates)
        record.end_date = max(record.end_date or wave_end, wave_end)
    hinted_deadline = _iso_date(_hint(hints, "deadline", "end_date"))
    if hinted_deadline:
        record.end_date = hinted_deadline

    level_hint = _hint(hints, "target", "level", "levels", "jenjang")
    record.levels = tr.find_levels(level_hint) if level_hint else tr.find_audience_levels(body)[0]
    record.categories, record.tags = tr.find_categories(
        "\n".join(filter(None, [record.title, body, _hint(hints, "category", "categories")]))
    )
    record.prize = _hint(hints, "prize", "hadiah") or tr.find_prize(text)
    phones_text = _hint(hints, "contact", "cp") or body
    record.contact_phones = tr.find_phones(phones_text)
    record.contact = _hint(hints, "contact", "cp") or tr.find_contact(text)
    registration, guide = tr.find_links(text)
    record.registration_url = _hint(hints, "registration_url") or registration
    record.guidebook_url = _hint(hints, "guidebook_url") or guide
    record.location, record.is_online, record.is_abroad = tr.find_location(
        text, _hint(hints, "location", "lokasi")
    )
    record.is_competition, why = tr.is_competition_with_reasons(text, record.title)
    if record.is_competition is False:
        record.categories, record.tags = [], []  # a giveaway has no competition category
    elif record.is_competition and not record.categories:
        record.categories = ["Lainnya"]
    record.stamp(PROVIDER)
    record.extracted_from[COMPETITION_SIGNALS_KEY] = why
    return record


def _fill_dates(
    record: CompetitionRecord, text: str, posted_at: dt.date | None, hints: dict[str, Any]
) -> None:
    mentions = find_date_mentions(text, posted_at)
    hinted_period = _hint(hints, "date", "dates", "tanggal", "registration_period")
    if hinted_period:
        # the source's own date field is the registration period
        mentions = [
            m.__class__(m.start, m.end, "registration", m.span, m.is_range)
            for m in find_date_mentions(hinted_period, posted_at)
        ] + mentions
    # a range is a period: under a deadline word ("Deadline: 1 - 5 Mei") it is still registration
    registration = [m for m in mentions if m.kind in ("registration", "deadline") and m.is_range]
    opens = [m for m in mentions if m.kind == "registration" and not m.is_range]
    deadlines = [m for m in mentions if m.kind == "deadline" and not m.is_range]
    submissions = [m for m in mentions if m.kind == "submission"]
    events = [m for m in mentions if m.kind == "event"]
    unknown_ranges = [m for m in mentions if m.kind == "unknown" and m.is_range]
    if not registration and not deadlines and not submissions and unknown_ranges:
        registration = unknown_ranges[:1]  # a bare range on a lomba post is its registration

    if registration:
        record.start_date = min(m.start for m in registration)
    elif opens:
        record.start_date = min(m.start for m in opens)
    ends = [m.end for m in registration] + [m.end for m in deadlines]
    if ends:
        record.end_date = max(ends)
    elif submissions:
        record.end_date = max(m.end for m in submissions)
    if events:
        record.event_start_date = min(m.start for m in events)
        record.event_end_date = max(m.end for m in events)
