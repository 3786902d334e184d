"""Versioned lane specs (post time and stagger, reply rules and templates, thresholds).

Versions live in ``job_specs``; exactly one is active and the lanes read it at tick time, so an
``apply`` or a ``rollback`` takes effect on the next tick without a redeploy.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from lomba_pipeline.db.events import record_event


class ReplyRule(BaseModel):
    name: str
    keywords: list[str] = Field(min_length=1)
    template: str = Field(min_length=1, max_length=1000)

    @field_validator("keywords")
    @classmethod
    def _lower(cls, words: list[str]) -> list[str]:
        return [w.strip().casefold() for w in words if w.strip()]


class LaneSpec(BaseModel):
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
    cooldown_minutes: int = Field(30, ge=1, le=24 * 60)
    max_replies_per_run: int = Field(50, ge=1, le=500)
    recent_media: int = Field(6, ge=1, le=30)


class SpecError(ValueError):
    pass


def parse_spec(text: str, source: str = "spec") -> LaneSpec:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping at the top level")
    try:
        return LaneSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: {exc}") from exc


def load_spec_file(path: Path) -> LaneSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}")
    return parse_spec(path.read_text(encoding="utf-8"), str(path))


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
