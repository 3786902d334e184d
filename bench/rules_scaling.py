"""Rules extraction time against caption size: 10 KB / 100 KB / 1 MB one-line captions.

Scraped captions arrive flattened to one line, full of links, dates and amounts; that is the
shape that made the old label search quadratic. Two figures per size:

- ``rules on the full text``: ``extract_with_rules`` on the whole caption (the rules themselves
  must be linear: time per KB roughly constant across sizes; goal < 1 s at 100 KB);
- ``pipeline (capped)``: what the extraction chain really runs, the caption cut to
  ``EXTRACTION_TEXT_LIMIT`` characters first (the full text stays in the raw payload).

Run: PYTHONPATH=. .venv/bin/python bench/rules_scaling.py
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lomba_pipeline.catalog.extraction.rules import (  # noqa: E402
    EXTRACTION_TEXT_LIMIT,
    extract_with_rules,
    text_for_extraction,
)

# a synthetic announcement chunk (written for this bench), repeated without newlines
CHUNK = (
    "🏆 LOMBA DESAIN POSTER NASIONAL 2026 🏆 Pendaftaran gelombang 1: 12 Januari - 3 Februari 2026 "
    "Biaya pendaftaran Rp 50.000/tim, hanya 35k untuk early bird! Link pendaftaran: "
    "bit.ly/DaftarPoster2026 Guidebook: bit.ly/GuidebookPoster2026 Peserta: siswa SMA/SMK dan "
    "mahasiswa aktif. CP: 0812-3456-7890 (Rani) Technical meeting 14 Februari 2026 "
    "info lengkap di www.contoh-lomba.id/poster dan instagram.com/contohlomba "
)
# the worst case of the old label search: links, dates and amounts with no label word at all
LINKS_ONLY = "lihat juga https://contoh.id/a/b?c=1 atau foto 12 Mei dan www.example.com/x 35k "
SHAPES = {"announcement": CHUNK, "links only": LINKS_ONLY}
SIZES = [10_000, 100_000, 1_000_000]


def caption_of(size: int, chunk: str = CHUNK) -> str:
    return (chunk * (size // len(chunk) + 1))[:size]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    posted = dt.date(2026, 1, 5)
    print(f"extraction text limit: {EXTRACTION_TEXT_LIMIT} characters")
    print(f"{'shape':<13} {'size':>9}  {'rules on full text':>19}  {'ms per KB':>9}  "
          f"{'pipeline (capped)':>17}")
    for shape, chunk in SHAPES.items():
        for size in SIZES:
            caption = caption_of(size, chunk)
            full = timed(lambda c=caption: extract_with_rules(c, posted))
            capped = timed(lambda c=caption: extract_with_rules(text_for_extraction(c), posted))
            print(f"{shape:<13} {size // 1000:>6} KB  {full:>17.3f} s  "
                  f"{full * 1000 / (size / 1000):>9.3f}  {capped:>15.3f} s")


if __name__ == "__main__":
    main()
