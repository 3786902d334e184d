"""Reply composition: keyword rules from the active spec with Indonesian templates, and an
optional drafter (e.g. an LLM) whose drafts always wait for a person."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from lomba_pipeline.ig_ops.spec import LaneSpec, ReplyRule

_USERNAME = re.compile(r"[^A-Za-z0-9._]")


@dataclass(frozen=True)
class Composed:
    text: str
    source: str  # rule:<name>, default, llm
    approval_reason: str | None = None


class ReplyDrafter(Protocol):
    """Drafts a reply when no rule matches; return None to stay silent, raise ``DraftFailed``
    when no usable draft could be had (provider down, draft refused by validation)."""

    def draft(self, *, kind: str, incoming: str, username: str) -> str | None: ...


class DraftFailed(Exception):
    """No usable draft: ``outcome`` is e.g. timeout, error, empty, refused."""

    def __init__(self, outcome: str, detail: str, attempts: list[dict] | None = None):
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome
        self.detail = detail
        self.attempts = attempts or []


def _fill(template: str, username: str) -> str:
    # only {username} is substituted, and only with a sanitised handle: incoming text never
    # reaches the template engine
    return template.replace("{username}", _USERNAME.sub("", username)[:30]).strip()


def _match(rules: list[ReplyRule], text: str) -> ReplyRule | None:
    lowered = text.casefold()
    for rule in rules:
        if any(word in lowered for word in rule.keywords):
            return rule
    return None


def wants_draft(spec: LaneSpec, *, kind: str, incoming: str) -> bool:
    """True when ``compose`` would ask a drafter: LLM drafts are on and no rule matches."""
    rules = spec.comment_rules if kind == "comment" else spec.dm_rules
    return spec.llm_drafts and _match(rules, incoming) is None


def compose(
    spec: LaneSpec, *, kind: str, incoming: str, username: str, drafter: ReplyDrafter | None = None
) -> Composed | None:
    """The reply to one comment ("comment") or DM ("dm"), or None for no reply.

    Raises ``DraftFailed`` when the drafter was asked and gave nothing usable: the item then gets
    no reply now (not the default), so the caller can record it and try again later.
    """
    rules = spec.comment_rules if kind == "comment" else spec.dm_rules
    default = spec.comment_default if kind == "comment" else spec.dm_default
    sensitive = None
    if kind == "dm" and any(w.casefold() in incoming.casefold() for w in spec.dm_approval_words):
        sensitive = "dm_sensitive_word"
    rule = _match(rules, incoming)
    if rule is not None:
        return Composed(_fill(rule.template, username), f"rule:{rule.name}", sensitive)
    if spec.llm_drafts and drafter is not None:
        try:
            text = drafter.draft(kind=kind, incoming=incoming, username=username)
        except DraftFailed:
            raise
        except Exception as exc:  # an optional helper must never stop the rule replies
            raise DraftFailed("error", f"{type(exc).__name__}: {exc}"[:300]) from exc
        if text:
            return Composed(text.strip()[:1000], "llm", "llm_draft")
    if default:
        return Composed(_fill(default, username), "default", sensitive)
    return None
