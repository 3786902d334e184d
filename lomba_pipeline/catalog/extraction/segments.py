"""Labels near a position: the words that say what a date, a link or an amount is about.

Scraped captions are often flattened to one line, so a "line" can be the whole post. What
separates the phases of a timeline there is a bullet or an emoji ("📆 Pendaftaran: … 📌
Pengumuman: …"). A label is therefore read from the segment before a position (bounded by a
newline, a bullet or an emoji), and never from more than ``LABEL_WINDOW`` characters: every look
is bounded, so the rules stay linear in the length of the text.
"""

from __future__ import annotations

import re

LABEL_WINDOW = 100  # characters looked at before (or after) a value for its label

BOUNDARY = re.compile(
    r"\n|[•●▪◦➤►▶✓✔☑|]|"
    "[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u2190-\u21FF\u2300-\u23FF]"
)
_LETTERS = re.compile(r"[A-Za-z]{2}")


def segment_before(text: str, position: int, floor: int = 0) -> tuple[int, str]:
    """(start, text) of the segment that ends at ``position``: back to the last boundary, at
    most ``LABEL_WINDOW`` characters and never before ``floor``."""
    start = max(floor, position - LABEL_WINDOW, 0)
    window = text[start:position]
    cut = 0
    for m in BOUNDARY.finditer(window):
        cut = m.end()
    return start + cut, window[cut:]


def label_before(text: str, position: int, floor: int = 0, max_segments: int = 3) -> str:
    """The label written before ``position``: its own segment, or, when that holds no words
    ("📆 Batch 1: 🗓 1 Mei"), up to ``max_segments`` segments further back."""
    start, label = segment_before(text, position, floor)
    parts = [label]
    for _ in range(max_segments - 1):
        if _LETTERS.search(" ".join(parts)) or start <= floor:
            break
        # skip the boundary character itself, then read the segment before it
        start, label = segment_before(text, start - 1, floor)
        parts.insert(0, label)
    return " ".join(parts)


def segment_after(text: str, position: int, ceiling: int | None = None) -> str:
    """The text after ``position`` up to the next boundary (at most ``LABEL_WINDOW`` chars)."""
    end = min(len(text), position + LABEL_WINDOW, ceiling if ceiling is not None else len(text))
    window = text[position:end]
    m = BOUNDARY.search(window)
    return window[: m.start()] if m else window


def has_words(text: str) -> bool:
    return _LETTERS.search(text) is not None
