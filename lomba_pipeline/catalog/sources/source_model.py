"""What every web source entry in ``sources.yaml`` has, whatever its site type."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

_NAME = re.compile(r"^[A-Za-z0-9._\-]{1,60}$")


class StrictModel(BaseModel):
    """Unknown keys are errors (a misspelled key must never be a silently ignored setting)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WebSourceBase(StrictModel):
    name: str
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value):
        if not _NAME.match(value):
            raise ValueError(f"{value!r}: use letters, digits, '.', '_' or '-' (max 60)")
        return value
