"""``config/sources.yaml``: which catalogs and Instagram profiles to read, validated on load.

``${NAME}`` in string values is replaced from the ``variables`` given to ``load_sources``; an
unknown name is an error, not an empty string.

Strict: every model forbids unknown keys (a misspelled key is an error naming the file and the
field, never a silently ignored setting); an empty file, a file naming no sources, a file that is
not UTF-8 or not YAML is refused with one line naming the file. ``SourcesConfigError`` is the only
error ``load_sources`` raises for bad content.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Union

import yaml
from pydantic import Field, ValidationError, field_validator

from lomba_pipeline.catalog.sources.sites import SITE_TYPES

# the site types' entries stay importable from here
from lomba_pipeline.catalog.sources.sites.blogger import BloggerSource  # noqa: F401
from lomba_pipeline.catalog.sources.sites.generic import (  # noqa: F401
    GenericDetailSelectors,
    GenericSource,
)
from lomba_pipeline.catalog.sources.sites.infolomba import InfolombaSource  # noqa: F401
from lomba_pipeline.catalog.sources.source_model import StrictModel

_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)\}")
# Dagster partition keys must not hold these; profiles become static partition keys.
_PROFILE = re.compile(r"^[A-Za-z0-9._]{1,30}$")
MAX_FILE_BYTES = 1024 * 1024  # a sources file is a few KB; anything this big is a mistake


class SourcesConfigError(ValueError):
    """The sources file is missing or invalid; the message names the file and the field."""


class CrawlSettings(StrictModel):
    desired_concurrency: int = Field(5, ge=1, le=50)
    max_concurrency: int = Field(10, ge=1, le=50)
    # politeness: at least this long between two requests to the same host
    per_host_delay_seconds: float = Field(0.5, ge=0, le=60)
    max_request_retries: int = Field(2, ge=0, le=10)
    request_timeout_seconds: float = Field(20, gt=0, le=300)
    # give up on a whole pass after this long (a hung site must not hold the schedule)
    pass_timeout_seconds: float = Field(600, gt=0)

    @field_validator("max_concurrency")
    @classmethod
    def _max_not_below_desired(cls, value, info):
        desired = info.data.get("desired_concurrency", 1)
        if value < desired:
            raise ValueError(f"max_concurrency ({value}) is below desired_concurrency ({desired})")
        return value


# every site type's entry, told apart by its ``type:`` (one module per type in ``sites/``)
WebSource = Annotated[
    Union[tuple(site.source_model for site in SITE_TYPES.values())],  # noqa: UP007
    Field(discriminator="type"),
]


class InstagramSources(StrictModel):
    profiles: list[str] = []
    # how many recent posts to page through at most per profile and window
    max_posts_per_profile: int = Field(36, ge=1, le=500)

    @field_validator("profiles")
    @classmethod
    def _profiles_ok(cls, value):
        bad = [p for p in value if not _PROFILE.match(p)]
        if bad:
            raise ValueError(f"not Instagram usernames: {bad}")
        if len(set(value)) != len(value):
            raise ValueError("a profile is listed twice")
        return value


class SourcesConfig(StrictModel):
    crawl: CrawlSettings = CrawlSettings()
    web: list[WebSource] = []
    instagram: InstagramSources = InstagramSources()

    @field_validator("web")
    @classmethod
    def _unique_names(cls, value):
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"web source names must be unique, repeated: {dupes}")
        return value

    @property
    def enabled_web(self) -> list:
        return [s for s in self.web if s.enabled]


MAX_NODES = 50_000  # YAML aliases can make a small file a huge tree ("billion laughs")


def _expand(value, path: Path, variables: dict[str, str], budget: list[int] | None = None):
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise SourcesConfigError(f"{path}: more than {MAX_NODES} values (aliases expanded)")
    if isinstance(value, str):

        def sub(match):
            name = match.group(1)
            if name not in variables:
                raise SourcesConfigError(f"{path}: ${{{name}}} is used but not provided")
            return variables[name]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, path, variables, budget) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, path, variables, budget) for k, v in value.items()}
    return value


def _read_yaml(path: Path):
    """The parsed document of ``path``; every way it can be unreadable is a one-line error."""
    if not path.is_file():
        raise SourcesConfigError(f"{path}: sources file does not exist")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourcesConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise SourcesConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourcesConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())[:300]
        raise SourcesConfigError(f"{path}: not valid YAML ({reason})") from None
    except RecursionError:
        raise SourcesConfigError(f"{path}: nested too deeply") from None


def _field(loc) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_sources(path: Path, variables: dict[str, str] | None = None) -> SourcesConfig:
    path = Path(path)
    raw = _read_yaml(path)
    if raw is None:
        raise SourcesConfigError(f"{path}: the file is empty; list sources under 'web' or "
                                 "'instagram'")
    if not isinstance(raw, dict):
        raise SourcesConfigError(f"{path}: expected a mapping at the top level")
    try:
        config = SourcesConfig.model_validate(_expand(raw, path, variables or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{_field(err['loc'])}: {err['msg']}" for err in exc.errors())
        raise SourcesConfigError(f"{path}: {problems}") from None
    except RecursionError:
        raise SourcesConfigError(f"{path}: nested too deeply") from None
    if not {"web", "instagram"} & set(raw):
        raise SourcesConfigError(f"{path}: names no sources; add 'web' or 'instagram'")
    return config


def profiles_in(path: Path) -> list[str]:
    """IG profiles for the static partition set (read without validating the rest: a broken
    file must not stop the code location from loading; the runs report its error)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        profiles = (raw.get("instagram") or {}).get("profiles") or []
        return [p for p in profiles if isinstance(p, str) and _PROFILE.match(p)]
    except (OSError, ValueError, TypeError, AttributeError, RecursionError, yaml.YAMLError):
        return []  # UnicodeDecodeError is a ValueError
