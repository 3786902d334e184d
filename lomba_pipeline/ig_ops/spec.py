"""Versioned lane specs (post time and stagger, reply rules and templates, thresholds).

Versions live in ``job_specs``; exactly one is active and the lanes read it at tick time, so an
``apply`` or a ``rollback`` takes effect on the next tick without a redeploy.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lomba_pipeline.db.events import record_event


class Strict(BaseModel):
    # a misspelled key is an error, never a silently ignored setting
    model_config = ConfigDict(extra="forbid")


class ReplyRule(Strict):
    name: str
    keywords: list[str] = Field(min_length=1)
    template: str = Field(min_length=1, max_length=1000)

    @field_validator("keywords")
    @classmethod
    def _lower(cls, words: list[str]) -> list[str]:
        return [w.strip().casefold() for w in words if w.strip()]


class ActionBudget(Strict):
    """What one account may do; what exceeds it waits for the next window, never dropped."""

    replies_per_hour: int = Field(60, ge=1, le=1000)  # comment replies, rolling hour
    dms_per_hour: int = Field(30, ge=1, le=1000)  # DM replies, rolling hour
    actions_per_day: int = Field(400, ge=1, le=10000)  # replies + DMs, rolling 24 h
    min_seconds_between_actions: float = Field(0, ge=0, le=600)


class WatchSpec(Strict):
    """What the reply sensor may spend on Instagram to notice new work: one cheap read per
    account per check, at most ``checks_per_account_per_hour``; everything else happens inside
    the run. One check in ``dm_inbox_every`` reads the DM inbox, the others the activity feed
    (comments). Each kind is evenly spaced on its own, so a comment never waits two slots
    because the DM inbox took one; the DM reads fall halfway between two feed reads."""

    checks_per_account_per_hour: int = Field(120, ge=1, le=720)
    dm_inbox_every: int = Field(8, ge=2, le=60)  # one check in N reads the DM inbox

    @property
    def seconds_between_feed_reads(self) -> float:
        per_hour = self.checks_per_account_per_hour * (self.dm_inbox_every - 1)
        return 3600 * self.dm_inbox_every / per_hour

    @property
    def seconds_between_dm_reads(self) -> float:
        return 3600 * self.dm_inbox_every / self.checks_per_account_per_hour


class LaneSpec(Strict):
    post_hour: int = Field(8, ge=0, le=23)
    post_minute: int = Field(0, ge=0, le=59)
    stagger_minutes: int = Field(2, ge=0, le=60)
    comment_rules: list[ReplyRule] = []
    comment_default: str | None = None  # None: comments matching no rule get no reply
    dm_rules: list[ReplyRule] = []
    dm_default: str | None = None
    dm_approval_words: list[str] = []  # a DM with one of these waits for a person
    llm_drafts: bool = False  # no rule matched: ask the drafter, draft goes to approvals
    # links a draft may contain besides those in the templates above (anything else: refused)
    llm_allowed_links: list[str] = []
    llm_max_drafts_per_run: int = Field(10, ge=1, le=100)  # the rest wait for the next tick
    failure_threshold: int = Field(3, ge=1, le=100)
    cooldown_minutes: int = Field(15, ge=1, le=24 * 60)  # the first cooldown
    # each further cooldown in a row (no success in between) lasts the next step
    cooldown_steps_minutes: list[int] = Field(default_factory=lambda: [15, 60, 360])
    block_cooldown_minutes: int = Field(360, ge=1, le=7 * 24 * 60)  # feedback_required
    budget: ActionBudget = Field(default_factory=ActionBudget)
    watch: WatchSpec = Field(default_factory=WatchSpec)
    max_replies_per_run: int = Field(50, ge=1, le=500)
    recent_media: int = Field(6, ge=1, le=30)

    @field_validator("cooldown_steps_minutes")
    @classmethod
    def _ascending(cls, steps: list[int]) -> list[int]:
        if any(not 1 <= m <= 7 * 24 * 60 for m in steps) or steps != sorted(steps):
            raise ValueError("cooldown steps must be ascending minutes between 1 and 10080")
        return steps

    @property
    def cooldown_steps(self) -> tuple[int, ...]:
        return (self.cooldown_minutes, *[m for m in self.cooldown_steps_minutes
                                         if m > self.cooldown_minutes])


class SpecFile(LaneSpec):
    """A spec a person wrote: it must answer something."""

    @model_validator(mode="after")
    def _has_reply_rules(self):
        if not (self.comment_rules or self.dm_rules or self.comment_default or self.dm_default):
            raise ValueError(
                "no reply rules: give comment_rules or dm_rules (or a comment/dm default)"
            )
        return self


class SpecError(ValueError):
    pass


def describe(exc: ValidationError) -> str:
    """Pydantic's errors as 'field.path: message' parts on one line."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = "unknown key (misspelled?)" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse_spec(text: str, source: str = "spec") -> LaneSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    if data is None:
        raise SpecError(f"{source}: the file is empty")
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping at the top level")
    try:
        spec = SpecFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {describe(exc)}") from exc
    return LaneSpec.model_validate(spec.model_dump())


def read_config_text(path: Path, error=ValueError) -> str:
    """A config file's text; a missing or non-UTF-8 file is one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def load_spec_file(path: Path) -> LaneSpec:
    return parse_spec(read_config_text(path, SpecError), str(path))


def apply_spec(conn, spec: LaneSpec, *, actor: str, source: str | None = None) -> int:
    """Store ``spec`` as a new version and make it active; returns the version."""
    with conn.cursor() as cur:
        cur.execute("UPDATE job_specs SET active = false WHERE active")
        cur.execute(
            "INSERT INTO job_specs (spec, source, created_by, active) VALUES (%s, %s, %s, true)"
            " RETURNING version",
            (spec.model_dump_json(), source, actor),
        )
        version = cur.fetchone()[0]
    record_event(
        conn,
        actor=actor,
        kind="ig.spec_applied",
        subject=f"spec:{version}",
        data={"source": source},
    )
    return version


def rollback_spec(conn, version: int, *, actor: str) -> None:
    """Make an earlier version active again (history is kept)."""
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM job_specs WHERE version = %s", (version,))
        if cur.fetchone() is None:
            raise SpecError(f"spec version {version} does not exist")
        cur.execute("UPDATE job_specs SET active = false WHERE active")
        cur.execute("UPDATE job_specs SET active = true WHERE version = %s", (version,))
    record_event(conn, actor=actor, kind="ig.spec_rolled_back", subject=f"spec:{version}")


def active_spec(conn) -> tuple[int | None, LaneSpec]:
    """(version, spec) in force now; the built-in defaults when nothing was applied."""
    with conn.cursor() as cur:
        cur.execute("SELECT version, spec FROM job_specs WHERE active")
        row = cur.fetchone()
    if row is None:
        return None, LaneSpec()
    spec = row[1] if isinstance(row[1], dict) else json.loads(row[1])
    return row[0], LaneSpec.model_validate(spec)


def spec_history(conn) -> list[dict]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT version, source, created_by, created_at, active FROM job_specs"
            " ORDER BY version DESC"
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
