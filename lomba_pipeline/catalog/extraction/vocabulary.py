"""The words a record is written in: levels, categories, fee waves.

Shared by the record schema (``record.py``) and the rules that find them (``text_rules.py``),
so neither has to import the other.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["SD", "SMP", "SMA", "Mahasiswa", "Umum"]
LEVELS: tuple[str, ...] = ("SD", "SMP", "SMA", "Mahasiswa", "Umum")

# The fixed category vocabulary; anything finer goes to ``tags``.
CATEGORIES: tuple[str, ...] = (
    "Akademik & Sains",
    "Teknologi & IT",
    "Seni & Kreatif",
    "Bisnis & Startup",
    "Olahraga & E-sports",
    "Sastra & Bahasa",
    "Sosial & Lingkungan",
    "Keagamaan",
    "Gaya Hidup & Hobi",
    "Lainnya",
)


class FeeWave(BaseModel):
    model_config = ConfigDict(extra="ignore")

    label: str | None = None
    amount: int | None = Field(default=None, ge=0)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
