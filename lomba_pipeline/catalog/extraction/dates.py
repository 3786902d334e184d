"""Indonesian and English date mentions: single dates, ranges, and what each one is about.

dateparser has no notion of ranges ("19 - 26 Jun 2025", "20 Des 2025 -13 Jan 2026") nor of a
year given once at the end, so spans are found here; dateparser reads the forms it is good at
(month-first English "January 26th", numeric day-first dates).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

import dateparser

from lomba_pipeline.catalog.extraction.segments import (
    BOUNDARY,
    LABEL_WINDOW,
    label_before,
    segment_after,
)

MONTHS: dict[str, int] = {
    "januari": 1, "january": 1, "jan": 1,
    "februari": 2, "february": 2, "pebruari": 2, "feb": 2, "peb": 2,
    "maret": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "agu": 8, "agt": 8, "ags": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11, "nop": 11,
    "desember": 12, "december": 12, "des": 12, "dec": 12,
}
# longest names first so "Juni" is never read as "Jun" + "i"
_MONTH = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\b\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"20\d{2}"
_SEP = (
    r"\s*(?:-|–|—|~|s\.\s?d\.?|s/d|sd|sampai(?:\s+dengan)?(?:\s+tanggal)?|hingga(?:\s+tanggal)?|"
    r"until|till|til|to|through|thru)\s*"
)

RANGE = re.compile(
    rf"(?<![\d.,])(?P<d1>{_DAY})(?:\s*(?P<m1>{_MONTH})(?:\s*,?\s*(?P<y1>{_YEAR}))?)?"
    rf"{_SEP}(?P<d2>{_DAY})\s*(?P<m2>{_MONTH})(?:\s*,?\s*(?P<y2>{_YEAR}))?",
    re.IGNORECASE,
)
# English month-first ranges: "July 1st – August 17th, 2025", "June 28 – July 4, 2025", "Aug 19–31"
RANGE_MONTH_FIRST = re.compile(
    rf"\b(?P<m1>{_MONTH})\s*(?P<d1>{_DAY})(?![\d:])(?:\s*,?\s*(?P<y1>{_YEAR}))?"
    rf"{_SEP}(?:(?P<m2>{_MONTH})\s*)?(?P<d2>{_DAY})(?![\d:.])(?:\s*,?\s*(?P<y2>{_YEAR}))?",
    re.IGNORECASE,
)
SINGLE = re.compile(
    rf"(?<![\d.,])(?P<d>{_DAY})\s*(?P<m>{_MONTH})(?:\s*,?\s*(?P<y>{_YEAR}))?", re.IGNORECASE
)
MONTH_FIRST = re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:\s*,?\s*{_YEAR})?", re.IGNORECASE)
NUMERIC = re.compile(r"(?<![\d.,])\d{1,2}[/.-]\d{1,2}[/.-](?:20)?\d{2}(?![\d.,])")

# What a date is about comes from its label: the words of its segment before it ("Pendaftaran:
# 1 - 5 Mei"), or after it when the timeline is written date-first ("1 - 5 Mei : Pendaftaran",
# "Aug 18 – Technical Meeting").
TRIGGERS: dict[str, tuple[str, ...]] = {
    "deadline": (
        "dl", "deadline", "batas akhir", "batas pendaftaran", "batas", "paling lambat", "ditutup",
        "tutup pendaftaran", "penutupan", "close registration", "closed", "closes", "hingga",
        "until", "till", "by", "sampai", "s.d.", "s/d", "gelombang terakhir", "terakhir", "last",
        "extended", "diperpanjang", "perpanjangan",
    ),
    "registration": (
        "pendaftaran", "registrasi", "registration", "regist", "register", "daftar", "batch",
        "gelombang", "dibuka", "open", "apply", "early bird", "presale", "pre-sale",
        "wave",
    ),
    "submission": (
        "pengiriman", "pengumpulan", "submission", "submit", "unggah karya", "upload karya",
        "penguploadan", "pembuatan", "proposal writing", "penulisan",
    ),
    "event": (
        "pelaksanaan", "final", "grand final", "preliminary", "penyisihan", "semifinal",
        "semi final", "technical meeting", "pengumuman", "announcement", "waktu", "kapan",
        "tanggal pelaksanaan", "acara", "lomba dilaksanakan", "dilaksanakan", "when",
        "penilaian", "penjurian", "judging", "kualifikasi", "awarding", "webinar",
        "seminar", "save the date", "d-day", "hari h", "babak", "presentasi", "presentation",
        "pitching", "day 1", "day 2", "tm",
    ),
}
_TRIGGER_RE = re.compile(
    r"(?<!\w)(" + "|".join(
        re.escape(word) for word in sorted(
            {w for words in TRIGGERS.values() for w in words}, key=len, reverse=True
        )
    ) + r")(?!\w)",
    re.IGNORECASE,
)
_KIND_OF = {word: kind for kind, words in TRIGGERS.items() for word in words}
# "1 - 5 Mei 2026 : Pendaftaran" / "Aug 18 – Technical Meeting": a label written after the date
_TRAILING_LABEL = re.compile(r"^\s*(?:[:=]|[-–—]\s*(?=[A-Za-z]))\s*(?P<label>[^:\d]{2,60})")


@dataclass(frozen=True)
class DateMention:
    start: dt.date
    end: dt.date  # == start for a single date
    kind: str  # deadline | registration | submission | event | unknown
    span: tuple[int, int]
    is_range: bool


def infer_year(month: int, day: int, posted_at: dt.date | None) -> dt.date | None:
    """A date written without a year: the post's year, or the next one if it would fall well
    before the post (people announce upcoming dates, not dates months in the past)."""
    base = posted_at or dt.date.today()
    candidate = _make(base.year, month, day)
    if candidate is not None and candidate < base - dt.timedelta(days=60):
        candidate = _make(base.year + 1, month, day)
    return candidate


def _day(text: str) -> int:
    return int(re.match(r"\d+", text).group())


def _month(text: str) -> int:
    return MONTHS[text.rstrip(".").lower()]


def _make(year: int, month: int, day: int) -> dt.date | None:
    """A date, with a day past the month's end read as its last day ("31 November" is written
    for the end of November); day 0 or above 31 is no date."""
    if not 1 <= day <= 31 or not 1 <= month <= 12 or not 1900 < year < 2200:
        return None
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _range_dates(m: re.Match, posted_at: dt.date | None) -> tuple[dt.date, dt.date] | None:
    m1 = _month(m["m1"]) if m["m1"] else None
    m2 = _month(m["m2"]) if m["m2"] else m1
    if m2 is None:
        return None
    m1 = m1 or m2
    d1, d2 = _day(m["d1"]), _day(m["d2"])
    year2 = m["y2"] or m["y1"]
    end = _make(int(year2), m2, d2) if year2 else infer_year(m2, d2, posted_at)
    if end is None:
        return None
    if m["y1"]:
        start = _make(int(m["y1"]), m1, d1)
    else:
        start = _make(end.year, m1, d1)
        if start is not None and start > end:  # "20 Des - 13 Jan 2026" crosses the year
            start = _make(end.year - 1, m1, d1)
    if start is None or start > end:
        return None
    return start, end


def _parse_with_dateparser(fragment: str, posted_at: dt.date | None) -> dt.date | None:
    has_year = re.search(r"\b20\d{2}\b|[/.-]\d{2}\b", fragment) is not None
    parsed = dateparser.parse(
        fragment,
        languages=["id", "en"],
        settings={"DATE_ORDER": "DMY", "REQUIRE_PARTS": ["day", "month"],
                  "PREFER_DAY_OF_MONTH": "first"},
    )
    if parsed is None:
        return None
    if has_year:
        return parsed.date()
    return infer_year(parsed.month, parsed.day, posted_at)


def _spans(text: str, posted_at: dt.date | None) -> list[tuple[int, int, dt.date, dt.date, bool]]:
    """Every date or range as (start, end, first day, last day, is_range), in reading order."""
    found: list[tuple[int, int, dt.date, dt.date, bool]] = []
    taken = bytearray(len(text))  # 1 where a date was read: overlap checks cost a span's length

    def free(a: int, b: int) -> bool:
        return not any(taken[a:b])

    def take(a: int, b: int) -> None:
        taken[a:b] = b"\x01" * (b - a)

    for pattern in (RANGE, RANGE_MONTH_FIRST):
        for m in pattern.finditer(text):
            if not free(*m.span()):
                continue
            dates = _range_dates(m, posted_at)
            if dates:
                found.append((m.start(), m.end(), dates[0], dates[1], True))
                take(*m.span())
    for m in SINGLE.finditer(text):
        if not free(*m.span()):
            continue
        d, mo = _day(m["d"]), _month(m["m"])
        date = _make(int(m["y"]), mo, d) if m["y"] else infer_year(mo, d, posted_at)
        if date:
            found.append((m.start(), m.end(), date, date, False))
            take(*m.span())
    for pattern in (MONTH_FIRST, NUMERIC):
        for m in pattern.finditer(text):
            if not free(*m.span()):
                continue
            date = _parse_with_dateparser(m.group(), posted_at)
            if date:
                found.append((m.start(), m.end(), date, date, False))
                take(*m.span())
    found.sort()
    return found


def find_date_mentions(text: str, posted_at: dt.date | None = None) -> list[DateMention]:
    """Every date or date range in ``text`` (already NFKC-normalised), in reading order, each
    with the kind its label gives it."""
    found = _spans(text, posted_at)
    mentions: list[DateMention] = []
    floor = 0  # a label never reaches back over the previous date (or its trailing label)
    for i, (start, end, first, last, is_range) in enumerate(found):
        next_start = found[i + 1][0] if i + 1 < len(found) else len(text)
        kind, trailing_end = classify_at(text, start, end, floor, next_start)
        if kind == "unknown" and is_range and mentions and _same_list(text, mentions[-1], start):
            kind = mentions[-1].kind  # "Early Bird (1-13 Juli) - Normal (14 Juli - 31 Agustus)"
        mentions.append(DateMention(first, last, kind, (start, end), is_range))
        floor = max(end, trailing_end)
    return mentions


def _same_list(text: str, previous: DateMention, position: int) -> bool:
    """Is ``position`` in the same segment as the previous mention, close after it?"""
    gap = text[previous.span[1]:position]
    return len(gap) <= LABEL_WINDOW and BOUNDARY.search(gap) is None


def kind_of_label(label: str) -> str:
    """A label's kind. Registration words outrank the others ("Registration & Submission",
    "Pendaftaran & Pengumpulan Karya"); a deadline word makes a registration label a deadline
    and, alone, a deadline; "Batas pengumpulan karya" is a submission, not the registration's."""
    kinds = {_KIND_OF[hit.group(1).lower()] for hit in _TRIGGER_RE.finditer(label)}
    if "registration" in kinds:
        return "deadline" if "deadline" in kinds else "registration"
    for kind in ("submission", "event", "deadline"):
        if kind in kinds:
            return kind
    return "unknown"


def classify_at(
    text: str, start: int, end: int, floor: int = 0, next_start: int | None = None
) -> tuple[str, int]:
    """(kind, end of a label written after the date, or 0) for the date at ``start:end``."""
    before = label_before(text, start, floor)
    trailing = _TRAILING_LABEL.match(segment_after(text, end, next_start))
    if trailing and (trailing.group(0).lstrip()[:1] in ":=" or kind_of_label(before) == "unknown"):
        kind = kind_of_label(trailing["label"])
        if kind != "unknown":
            return kind, end + trailing.end("label")
    return kind_of_label(before), 0


def first_range(text: str, posted_at: dt.date | None = None) -> tuple[dt.date, dt.date] | None:
    """The first date range in ``text`` (e.g. one fee wave's period)."""
    for _start, _end, first, last, is_range in _spans(text, posted_at):
        if is_range:
            return first, last
    return None
