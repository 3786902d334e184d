"""The extraction chain for one item: text step → poster step (only for still-empty key fields)
→ Mistral OCR with Gemini as fallback; the rules provider fills whatever the AI left empty.

A provider failure never raises out of here: it becomes the outcome's ``error`` and the record
keeps what the other steps found.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from lomba_pipeline.catalog.extraction.record import (
    CATEGORIES,
    LEVELS,
    CompetitionRecord,
    json_schema_for_providers,
    record_from_provider_json,
)
from lomba_pipeline.catalog.extraction.rules import (
    capped_hints,
    extract_with_rules,
    text_for_extraction,
)
from lomba_pipeline.resources.ai import AiProviders, Attempt, ProviderFailed, data_url

MODES = ("rules", "zhipu", "mistral", "gemini", "chain")


@dataclass(frozen=True)
class Poster:
    image_id: int | None
    public_url: str | None
    object_key: str | None
    content_type: str = "image/jpeg"


@dataclass
class Item:
    raw_item_id: int | None
    caption: str | None
    title: str | None = None
    posted_at: dt.date | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    poster: Poster | None = None
    source: str = ""  # "Web infolomba.id", for log lines


@dataclass
class Outcome:
    record: CompetitionRecord
    attempts: list[Attempt]
    errors: list[str]
    # the rules as a cross-check: field -> (kept value, what the rules read), both as text
    mismatches: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.record.is_complete:
            return "done"
        return "failed" if self.errors else "partial"

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) if self.errors else None

    @property
    def succeeded(self) -> bool:
        return self.status != "failed"


SYSTEM_PROMPT = (
    "Kamu mengekstrak data lomba (kompetisi) dari teks unggahan berbahasa Indonesia atau Inggris. "
    "Balas HANYA dengan satu objek JSON sesuai skema berikut; kosongkan (null atau []) yang tidak "
    "disebut. Tanggal ISO 8601 (YYYY-MM-DD); tahun yang tidak ditulis diambil dari tanggal unggah. "
    "end_date adalah batas akhir pendaftaran (gelombang terakhir), start_date pembukaan pendaftaran. "
    f"categories hanya dari: {', '.join(CATEGORIES)}. levels hanya dari: {', '.join(LEVELS)}. "
    "fee_amount dalam Rupiah (0 jika gratis). contact_phones dalam format +62. "
    "registration_url bukan tautan panduan/guidebook. is_competition false untuk giveaway, "
    "pelatihan, seminar, beasiswa. Skema: "
)


def _provider_prompt() -> str:
    return SYSTEM_PROMPT + json.dumps(json_schema_for_providers(), separators=(",", ":"))


def _item_text(item: Item) -> str:
    parts = []
    if item.posted_at:
        parts.append(f"Tanggal unggah: {item.posted_at.isoformat()}")
    if item.title:
        parts.append(f"Judul: {item.title}")
    for key, value in sorted(item.hints.items()):
        if isinstance(value, (str, int, float)) and str(value).strip():
            parts.append(f"{key}: {value}")
    parts.append(item.caption or "")
    return "\n".join(parts)


def is_public_url(url: str | None) -> bool:
    """Can a provider on the internet fetch this URL? (not localhost, private or test hosts)"""
    if not url or not url.startswith(("http://", "https://")):
        return False
    host = (urlparse(url).hostname or "").lower()
    if host in {"localhost", ""} or host.endswith((".local", ".test", ".invalid", ".localhost",
                                                    ".internal", ".example")):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True
    return ip.is_global


CROSS_CHECKED = ("start_date", "end_date", "fee_amount", "levels", "is_competition")


def cross_check(record: CompetitionRecord, rules: CompetitionRecord) -> dict[str, tuple[str, str]]:
    """Fields where an AI provider and the rules both found a value and disagree (for review)."""
    out = {}
    for name in CROSS_CHECKED:
        mine, theirs = getattr(record, name), getattr(rules, name)
        if mine not in (None, []) and theirs not in (None, []) and mine != theirs:
            out[name] = (str(mine), str(theirs))
    return out


class Extractor:
    """Runs one item through the chosen mode. Thread-safe: providers bound their own calls."""

    def __init__(
        self,
        mode: str,
        providers: AiProviders,
        load_poster: Callable[[Poster], bytes] | None = None,
        image_transfer: str = "auto",
    ):
        if mode not in MODES:
            raise ValueError(f"unknown extraction provider {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.providers = providers
        self.load_poster = load_poster
        self.image_transfer = image_transfer
        self._prompt = _provider_prompt()

    # -- steps -------------------------------------------------------------------------------
    def extract(self, item: Item) -> Outcome:
        # every step reads a bounded text; the raw item keeps the full one
        item = dataclasses.replace(
            item, caption=text_for_extraction(item.caption), hints=capped_hints(item.hints)
        )
        attempts: list[Attempt] = []
        errors: list[str] = []
        record = CompetitionRecord()

        if self.mode in ("zhipu", "chain") and self.providers.zhipu is not None:
            self._text_step(item, record, attempts, errors)
        elif self.mode == "zhipu":
            errors.append("zhipu: no API key configured (ZHIPUAI_API_KEY)")

        rules_record = self._rules(item, attempts)
        mismatches = cross_check(record, rules_record)
        record.fill_empty_fields(rules_record, "rules")

        wants_poster = self.mode in ("mistral", "gemini") or (
            self.mode == "chain"
            and record.empty_fields()
            and record.is_competition is not False  # giveaways and trainings cost nothing more
        )
        if wants_poster and item.poster is not None:
            self._poster_step(item, record, attempts, errors)
        self.providers.price(attempts)  # estimated cost per call, for the ledger
        return Outcome(record, attempts, errors, mismatches)

    def _rules(self, item: Item, attempts: list[Attempt]) -> CompetitionRecord:
        started = time.monotonic()
        record = extract_with_rules(item.caption, item.posted_at, item.hints, item.title)
        attempts.append(Attempt("rules", "text", "ok", int((time.monotonic() - started) * 1000)))
        return record

    def _text_step(self, item, record, attempts, errors) -> None:
        try:
            reply = self.providers.zhipu.extract_json(
                self._prompt, _item_text(item),
                validate=lambda data: record_from_provider_json(data, "zhipu"),
            )
        except ProviderFailed as exc:
            attempts.extend(exc.attempts)
            errors.append(str(exc))
            return
        attempts.extend(reply.attempts)
        record.fill_empty_fields(reply.value, "zhipu")

    def _poster_step(self, item, record, attempts, errors) -> None:
        try:
            image = self._poster_bytes(item.poster) if self._needs_bytes() else None
        except Exception as exc:  # the object is gone or unreadable: say which one
            errors.append(f"poster {item.poster.object_key or item.poster.public_url}: {exc}")
            return
        mistral, gemini = self.providers.mistral, self.providers.gemini
        if self.mode in ("mistral", "chain") and mistral is not None:
            try:
                document = self._document_url(item.poster, image)
            except Exception as exc:
                errors.append(f"poster {item.poster.object_key or item.poster.public_url}: {exc}")
                return
            try:
                reply = mistral.ocr(document, json_schema_for_providers())
            except ProviderFailed as exc:
                attempts.extend(exc.attempts)
                if self.mode == "mistral" or gemini is None:
                    errors.append(str(exc))
                    return
                # any Mistral failure (outage, placeholders only) → Gemini on the same poster
            else:
                attempts.extend(reply.attempts)
                self._fill_from_ocr(item, record, reply)
                return
        elif self.mode == "mistral":
            errors.append("mistral: no API key configured (MISTRAL_API_KEY)")
            return
        if gemini is None:
            if self.mode == "gemini":
                errors.append("gemini: no API key configured (GEMINI_API_KEY)")
            return
        if image is None:
            try:
                image = self._poster_bytes(item.poster)
            except Exception as exc:
                errors.append(f"poster {item.poster.object_key or item.poster.public_url}: {exc}")
                return
        try:
            reply = gemini.extract_json(
                image, item.poster.content_type, self._prompt,
                validate=lambda data: record_from_provider_json(data, "gemini"),
            )
        except ProviderFailed as exc:
            attempts.extend(exc.attempts)
            errors.append(str(exc))
            return
        attempts.extend(reply.attempts)
        record.fill_empty_fields(reply.value, "gemini")

    def _fill_from_ocr(self, item: Item, record: CompetitionRecord, reply) -> None:
        if reply.data:
            try:
                record.fill_empty_fields(record_from_provider_json(reply.data, "mistral"), "mistral")
            except ValueError:
                pass  # a malformed annotation: the markdown below still counts
        from_text = extract_with_rules(text_for_extraction(reply.text), item.posted_at)
        from_text.extracted_from = {name: "mistral" for name in from_text.extracted_from}
        record.fill_empty_fields(from_text, "mistral")

    # -- poster transport --------------------------------------------------------------------
    def _needs_bytes(self) -> bool:
        uses_gemini = self.mode == "gemini" or (self.mode == "chain" and self.providers.mistral is None)
        return uses_gemini or self.image_transfer == "data"

    def _poster_bytes(self, poster: Poster) -> bytes:
        if self.load_poster is None:
            raise RuntimeError("no way to read poster bytes")
        return self.load_poster(poster)

    def _document_url(self, poster: Poster, image: bytes | None) -> str:
        use_url = self.image_transfer == "url" or (
            self.image_transfer == "auto" and is_public_url(poster.public_url)
        )
        if use_url and poster.public_url:
            return poster.public_url
        if image is None:
            image = self._poster_bytes(poster)
        return data_url(image, poster.content_type)
