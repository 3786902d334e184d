"""Fuzzing the rules extractor (hypothesis): any text, any posting date, any hints give a
record or the documented error, never an exception; dates stay in order; nothing invented from
outside the text."""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lomba_pipeline.catalog.extraction.record import (
    CompetitionRecord,
    InvalidRecord,
    record_from_provider_json,
)
from lomba_pipeline.catalog.extraction.rules import extract_with_rules

# words the rules react to, so the fuzzer reaches the interesting branches quickly
VOCABULARY = [
    "Pendaftaran", "Registration", "Deadline", "sampai", "hingga", "s.d.", "s/d", "till", "-", "–",
    ":", "•", "📌", "🗓", "\n", "Januari", "Feb", "March", "Agustus", "Des", "1st", "23rd", "31",
    "2027", "Rp", "50.000", "15k", "juta", "HTM", "hanya", "bit.ly/x", "https://a.id/b", "wa.me/62",
    "SMA", "umum", "Syarat Umum", "Peserta", "SMA Negeri 1", "lomba", "webinar", "giveaway",
    "Gelombang", "Batch 2", "(", ")", "0812-3456-7890", "&nbsp;", "𝐋𝐎𝐌𝐁𝐀", "#lomba", "\u2063",
]
texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.sampled_from(VOCABULARY) | st.text(max_size=6), max_size=80).map(" ".join),
)
dates = st.none() | st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))
hints = st.dictionaries(
    st.sampled_from(["title", "date", "fee", "target", "deadline", "registration_url", "organizer"]),
    texts | st.integers() | st.none(),
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, posted=dates, hint=hints)
def test_rules_never_raise_and_keep_dates_in_order(text, posted, hint):
    record = extract_with_rules(text, posted, hints=hint)
    assert isinstance(record, CompetitionRecord)
    if record.start_date and record.end_date and "date" not in hint and "deadline" not in hint:
        assert record.start_date <= record.end_date
    if record.event_start_date and record.event_end_date:
        assert record.event_start_date <= record.event_end_date
    assert record.is_competition in (True, False, None)
    assert record.fee_amount is None or record.fee_amount >= 0


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.text(max_size=12), st.text(max_size=40) | st.integers() | st.none()
                            | st.lists(st.text(max_size=10), max_size=3), max_size=6))
def test_provider_json_is_a_record_or_the_documented_error(data):
    try:
        record = record_from_provider_json(data, "zhipu")
    except InvalidRecord as exc:
        assert "zhipu" in str(exc)  # the error names the provider
    else:
        assert isinstance(record, CompetitionRecord)
