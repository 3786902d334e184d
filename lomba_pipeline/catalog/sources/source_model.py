"""What every web source entry in ``sources.yaml`` has, whatever its site type."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class PagedListing(StrictModel):
    """A listing read page after page, newest first (``crawl_pass``: incremental listings)."""

    # a pass stops following the listing after this many list pages in a row held only known
    # complete, unchanged cards (the daily full listing reads on); 0 = read every page every pass
    stop_after_known_pages: int = Field(1, ge=0, le=1000)
