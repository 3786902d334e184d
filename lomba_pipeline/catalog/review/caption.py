"""The WhatsApp caption of a competition, from the Jinja2 template in ``config/``."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import jinja2

TEMPLATE_NAME = "whatsapp_caption.j2"
MONTHS_ID = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
             "September", "Oktober", "November", "Desember"]
MAX_CAPTION = 4000  # WhatsApp allows more, but nobody reads more


def tanggal(value: date | None) -> str:
    """``date(2026, 12, 20)`` → ``20 Desember 2026``."""
    if value is None:
        return ""
    return f"{value.day} {MONTHS_ID[value.month - 1]} {value.year}"


def rupiah(amount: int | None) -> str:
    if amount is None:
        return ""
    if amount == 0:
        return "Gratis"
    return "Rp " + f"{amount:,}".replace(",", ".")


def _environment(config_dir: Path) -> jinja2.Environment:
    # plain text for WhatsApp, not HTML: no autoescape, but undefined names fail loudly
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(config_dir)),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render_caption(record: dict, config_dir: Path) -> str:
    template = _environment(config_dir).get_template(TEMPLATE_NAME)
    text = template.render(
        c=record,
        levels=", ".join(record.get("levels") or []),
        categories=", ".join(record.get("categories") or []),
        deadline=tanggal(record.get("end_date")),
        fee=rupiah(record.get("fee_amount")),
        url=record.get("registration_url") or record.get("canonical_url") or "",
    )
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text[:MAX_CAPTION]
