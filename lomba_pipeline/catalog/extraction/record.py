"""The competition record every provider fills, and how partial records are merged.

Field names match the ``competitions`` columns so a record maps onto a row one to one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lomba_pipeline.catalog.extraction.vocabulary import (  # noqa: F401  (re-exported)
    CATEGORIES,
    LEVELS,
    FeeWave,
    Level,
)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# A record with all of these filled is complete: it is never sent to a provider again.
KEY_FIELDS: tuple[str, ...] = ("organizer", "start_date", "end_date", "categories", "levels")


class CompetitionRecord(BaseModel):
    """What extraction produces for one raw item (every field optional: providers fill parts)."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    title: str | None = None
    description: str | None = None
    organizer: str | None = None
    start_date: dt.date | None = None  # registration opens
    end_date: dt.date | None = None  # registration deadline
    event_start_date: dt.date | None = None
    event_end_date: dt.date | None = None
    categories: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    levels: list[Level] = Field(default_factory=list)
    fee_amount: int | None = Field(default=None, ge=0)  # 0 = gratis
    fee_waves: list[FeeWave] = Field(default_factory=list)
    prize: str | None = None
    contact: str | None = None
    contact_phones: list[str] = Field(default_factory=list)
    registration_url: str | None = None
    guidebook_url: str | None = None
    location: str | None = None
    is_online: bool | None = None
    is_abroad: bool | None = None
    is_competition: bool | None = None
    extracted_from: dict[str, str] = Field(default_factory=dict)  # field -> provider

    @field_validator("categories", mode="before")
    @classmethod
    def _known_categories(cls, value: Any) -> list[str]:
        from lomba_pipeline.catalog.extraction.text_rules import find_categories

        out: list[str] = []
        for item in _as_list(value):
            # a provider's free word ("Tilawah", "Short Movie") maps through the tag table
            found = [str(item)] if item in CATEGORIES else find_categories(str(item))[0]
            out += [c for c in found if c not in out]
        return out or (["Lainnya"] if _as_list(value) else [])

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, value: Any) -> list[str]:
        from lomba_pipeline.catalog.extraction.text_rules import find_levels

        found = set()
        for item in _as_list(value):
            text = str(item).strip()
            exact = next((level for level in LEVELS if level.lower() == text.lower()), None)
            found.update([exact] if exact else find_levels(text))  # "SMA/SMK sederajat" → SMA
        return [level for level in LEVELS if level in found]

    @field_validator("contact_phones", mode="before")
    @classmethod
    def _phones(cls, value: Any) -> list[str]:
        from lomba_pipeline.catalog.extraction.text_rules import find_phones

        out: list[str] = []
        for item in _as_list(value):
            out += [p for p in find_phones(str(item)) if p not in out]
        return out

    @field_validator("registration_url", "guidebook_url", mode="before")
    @classmethod
    def _first_url(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        from lomba_pipeline.catalog.extraction.text_rules import first_url

        return first_url(value)

    @field_validator(
        "start_date", "end_date", "event_start_date", "event_end_date", mode="before"
    )
    @classmethod
    def _date_text(cls, value: Any) -> Any:
        # "20 Januari 2025" from a provider is fine; text with no date stays and fails validation
        if isinstance(value, str) and value.strip() and not _ISO_DATE.match(value.strip()):
            from lomba_pipeline.catalog.extraction.dates import find_date_mentions

            mentions = find_date_mentions(value)
            if mentions:
                return mentions[0].end
        return value.strip()[:10] if isinstance(value, str) and _ISO_DATE.match(value.strip()) else value

    @field_validator("tags", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> list[str]:
        return [str(v) for v in _as_list(value)]

    @field_validator(
        "title", "description", "organizer", "prize", "contact", "registration_url",
        "guidebook_url", "location", mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip() in {"", "-", "null", "None", "N/A"}:
            return None
        return value.strip() if isinstance(value, str) else value

    # -- completeness and merging ------------------------------------------------------------
    def empty_fields(self, fields: tuple[str, ...] = KEY_FIELDS) -> list[str]:
        return [name for name in fields if _is_empty(getattr(self, name))]

    @property
    def is_complete(self) -> bool:
        return not self.empty_fields()

    def fill_empty_fields(self, other: CompetitionRecord, provider: str) -> list[str]:
        """Copy ``other``'s values into fields that are empty here; returns the fields filled."""
        filled = []
        for name in DATA_FIELDS:
            value = getattr(other, name)
            if _is_empty(getattr(self, name)) and not _is_empty(value):
                setattr(self, name, value)
                self.extracted_from[name] = other.extracted_from.get(name, provider)
                for key, why in other.extracted_from.items():  # "is_competition:signals"
                    if key.startswith(name + ":"):
                        self.extracted_from[key] = why
                filled.append(name)
        return filled

    def stamp(self, provider: str) -> CompetitionRecord:
        """Mark every filled field as coming from ``provider``."""
        for name in DATA_FIELDS:
            if not _is_empty(getattr(self, name)):
                self.extracted_from.setdefault(name, provider)
        return self

    def filled_fields(self) -> list[str]:
        return [name for name in DATA_FIELDS if not _is_empty(getattr(self, name))]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


DATA_FIELDS: tuple[str, ...] = tuple(
    name for name in CompetitionRecord.model_fields if name != "extracted_from"
)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == ""


# Aliases AI providers tend to use (camelCase, the predecessor's names) → our field names.
_ALIASES = {
    "startDate": "start_date", "endDate": "end_date", "deadline": "end_date",
    "eventStartDate": "event_start_date", "eventEndDate": "event_end_date",
    "level": "levels", "category": "categories", "registrationUrl": "registration_url",
    "guideUrl": "guidebook_url", "guidebookUrl": "guidebook_url", "isCompetition": "is_competition",
    "isOnline": "is_online", "isAbroad": "is_abroad", "feeAmount": "fee_amount",
    "fee": "fee_amount", "phones": "contact_phones",
}


class InvalidRecord(ValueError):
    """A provider's JSON that does not fit the schema (names the provider and the problem)."""


def record_from_provider_json(data: Any, provider: str) -> CompetitionRecord:
    """Validate a provider's JSON object against the schema; raises ``InvalidRecord``."""
    if not isinstance(data, dict):
        raise InvalidRecord(f"{provider} returned {type(data).__name__}, not a JSON object")
    normalised = {_ALIASES.get(key, key): value for key, value in data.items()}
    if isinstance(normalised.get("fee_amount"), str):
        from lomba_pipeline.catalog.extraction.text_rules import find_fee

        # free text like "Rp 50.000 (Lainnya)" or "Gratis"
        normalised["fee_amount"] = find_fee("Biaya: " + normalised["fee_amount"])[0]
    if not normalised.get("contact_phones") and isinstance(normalised.get("contact"), str):
        normalised["contact_phones"] = normalised["contact"]
    try:
        record = CompetitionRecord.model_validate(normalised)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRecord(f"{provider} JSON does not fit the schema: {where}: {first['msg']}") from exc
    return record.stamp(provider)


def json_schema_for_providers() -> dict[str, Any]:
    """The JSON schema sent to the AI providers (no provenance field)."""
    schema = CompetitionRecord.model_json_schema()
    schema.get("properties", {}).pop("extracted_from", None)
    return schema
