"""Indonesian and English date mentions: single dates, ranges, and what each one is about.

dateparser has no notion of ranges ("19 - 26 Jun 2025", "20 Des 2025 -13 Jan 2026") nor of a
year given once at the end, so spans are found here; dateparser reads the forms it is good at
(month-first English "January 26th", numeric day-first dates).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import dateparser

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
_SEP = r"\s*(?:-|–|—|s\.\s?d\.?|s/d|sd|sampai(?:\s+dengan)?|hingga|until|to)\s*"

RANGE = re.compile(
    rf"(?<![\d.,])(?P<d1>{_DAY})(?:\s*(?P<m1>{_MONTH})(?:\s*,?\s*(?P<y1>{_YEAR}))?)?"
    rf"{_SEP}(?P<d2>{_DAY})\s*(?P<m2>{_MONTH})(?:\s*,?\s*(?P<y2>{_YEAR}))?",
    re.IGNORECASE,
)
SINGLE = re.compile(
    rf"(?<![\d.,])(?P<d>{_DAY})\s*(?P<m>{_MONTH})(?:\s*,?\s*(?P<y>{_YEAR}))?", re.IGNORECASE
)
MONTH_FIRST = re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:\s*,?\s*{_YEAR})?", re.IGNORECASE)
NUMERIC = re.compile(r"(?<![\d.,])\d{1,2}[/.-]\d{1,2}[/.-](?:20)?\d{2}(?![\d.,])")

# A date's meaning comes from the nearest trigger word before it (same line, or the line above
# when the date stands alone on its line).
TRIGGERS: dict[str, tuple[str, ...]] = {
    "deadline": (
        "dl", "deadline", "batas akhir", "batas pendaftaran", "batas", "paling lambat", "ditutup",
        "tutup pendaftaran", "penutupan", "close registration", "closed", "hingga", "until", "by",
        "gelombang terakhir", "early bird", "terakhir", "last",
    ),
    "registration": (
        "pendaftaran", "registrasi", "registration", "regist", "register", "daftar", "batch",
        "gelombang", "dibuka", "open", "apply", "periode",
    ),
    "submission": ("pengiriman", "pengumpulan", "submission", "submit", "unggah karya"),
    "event": (
        "pelaksanaan", "final", "grand final", "preliminary", "penyisihan", "semifinal",
        "technical meeting", "pengumuman", "announcement", "waktu", "kapan", "tanggal pelaksanaan",
        "acara", "lomba dilaksanakan", "dilaksanakan", "when",
    ),
}
_TRIGGER_RE = re.compile(
    r"\b(" + "|".join(
        re.escape(word) for word in sorted(
            {w for words in TRIGGERS.values() for w in words}, key=len, reverse=True
        )
    ) + r")\b",
    re.IGNORECASE,
)
_KIND_OF = {word: kind for kind, words in TRIGGERS.items() for word in words}


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
    try:
        candidate = dt.date(base.year, month, day)
    except ValueError:
        return None
    if candidate < base - dt.timedelta(days=60):
        try:
            candidate = dt.date(base.year + 1, month, day)
        except ValueError:
            return None
    return candidate


def _day(text: str) -> int:
    return int(re.match(r"\d+", text).group())


def _month(text: str) -> int:
    return MONTHS[text.rstrip(".").lower()]


def _make(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _range_dates(m: re.Match, posted_at: dt.date | None) -> tuple[dt.date, dt.date] | None:
    d2, m2 = _day(m["d2"]), _month(m["m2"])
    if m["y2"]:
        end = _make(int(m["y2"]), m2, d2)
    else:
        end = infer_year(m2, d2, posted_at)
    if end is None:
        return None
    d1 = _day(m["d1"])
    m1 = _month(m["m1"]) if m["m1"] else m2
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


def find_date_mentions(text: str, posted_at: dt.date | None = None) -> list[DateMention]:
    """Every date or date range in ``text`` (already NFKC-normalised), in reading order."""
    found: list[tuple[int, int, dt.date, dt.date, bool]] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for m in RANGE.finditer(text):
        dates = _range_dates(m, posted_at)
        if dates:
            found.append((m.start(), m.end(), dates[0], dates[1], True))
            taken.append(m.span())
    for m in SINGLE.finditer(text):
        if not free(*m.span()):
            continue
        d, mo = _day(m["d"]), _month(m["m"])
        date = _make(int(m["y"]), mo, d) if m["y"] else infer_year(mo, d, posted_at)
        if date:
            found.append((m.start(), m.end(), date, date, False))
            taken.append(m.span())
    for pattern in (MONTH_FIRST, NUMERIC):
        for m in pattern.finditer(text):
            if not free(*m.span()):
                continue
            date = _parse_with_dateparser(m.group(), posted_at)
            if date:
                found.append((m.start(), m.end(), date, date, False))
                taken.append(m.span())
    found.sort()
    mentions = []
    previous_end = 0
    for start, end, first, last, is_range in found:
        kind = classify(text, start, previous_end)
        mentions.append(DateMention(first, last, kind, (start, end), is_range))
        previous_end = end
    return mentions


def classify(text: str, position: int, not_before: int = 0) -> str:
    """The kind of the nearest trigger word before ``position`` (this line, or the line above
    when nothing but decoration precedes the date on its line)."""
    line_start = text.rfind("\n", 0, position) + 1
    context = text[max(line_start, not_before):position]
    if not re.search(r"[A-Za-z]", context) and line_start > not_before:
        above_start = text.rfind("\n", 0, max(line_start - 1, 0)) + 1
        context = text[max(above_start, not_before):position]
    kinds = [_KIND_OF[hit.group(1).lower()] for hit in _TRIGGER_RE.finditer(context)]
    if not kinds:
        return "unknown"
    # "Batas akhir pendaftaran 5 Mei": a deadline word outranks the registration word after it
    if "deadline" in kinds and kinds[-1] == "registration":
        return "deadline"
    return kinds[-1]


def first_range(text: str, posted_at: dt.date | None = None) -> tuple[dt.date, dt.date] | None:
    """The first date range in ``text`` (e.g. one fee wave's period)."""
    for mention in find_date_mentions(text, posted_at):
        if mention.is_range:
            return mention.start, mention.end
    return None
