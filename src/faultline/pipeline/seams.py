"""Extension points of the digest pipeline, fixed up front so the domains can be built in parallel.

The pipeline (spec §5) calls two collaborators it does not own:

* **rules** (`faultline.rules`): grouping rules choose a `custom-rule:<id>` fingerprint, suppression rules drop
  events after fingerprinting, assignment rules assign newly created or reopened issues;
* **symbols** (`faultline.symbols`): frames of platforms that need symbol data (web:javascript, node:javascript,
  hermes, java) are resolved against uploaded or fetched symbol sets.

The defaults below are the behaviour with no rules and no symbol sets at all; the pipeline is constructed with
whatever providers the application wires in, so tests can swap them too.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Assignee:
    """An issue owner: a user (integer id) or a role (UUID)."""

    type: Literal["user", "role"]
    id: int | uuid.UUID

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id if self.type == "user" else str(self.id)}


@dataclass(frozen=True)
class GroupingDecision:
    """A grouping rule matched: fingerprint `custom-rule:<rule_id>`, optionally assigning new/reopened issues."""

    rule_id: uuid.UUID
    assignee: Assignee | None = None

    @property
    def fingerprint(self) -> str:
        return f"custom-rule:{self.rule_id}"


class ProjectRules(Protocol):
    """One project's enabled rules, compiled once per cache load. Each method is "first match wins" in
    ascending order_key; a rule that errors is disabled by the implementation and skipped."""

    def grouping(self, properties: Mapping[str, Any]) -> GroupingDecision | None: ...

    def suppression(self, properties: Mapping[str, Any], event_uuid: uuid.UUID) -> uuid.UUID | None:
        """The id of the first rule that suppresses this event (after its sampling), or None."""
        ...

    def assignment(self, properties: Mapping[str, Any], issue: Mapping[str, Any]) -> Assignee | None: ...


class RulesProvider(Protocol):
    def for_project(self, session: Session, project_id: int) -> ProjectRules: ...


class NoRules:
    """No rules configured anywhere."""

    def grouping(self, properties: Mapping[str, Any]) -> GroupingDecision | None:
        return None

    def suppression(self, properties: Mapping[str, Any], event_uuid: uuid.UUID) -> uuid.UUID | None:
        return None

    def assignment(self, properties: Mapping[str, Any], issue: Mapping[str, Any]) -> Assignee | None:
        return None

    def for_project(self, session: Session, project_id: int) -> ProjectRules:
        return self


@dataclass
class FrameResolution:
    """One resolved frame produced from a raw frame (a raw frame may expand to several: inlined Java frames).

    `contents` is the resolved Frame object of spec §4.5 *without* `raw_id` (the pipeline adds `<raw>/<part>`);
    `context` is `{"before": [...], "line": {...}, "after": [...]}` or None; `symbol_set_id` links the stack-frame
    row to the symbol set used (or the negative row that explains the failure).
    """

    contents: dict[str, Any]
    context: dict[str, Any] | None = None
    symbol_set_id: uuid.UUID | None = None
    release: dict[str, Any] | None = field(default=None)


class SymbolResolver(Protocol):
    """Resolves frames that need symbol data. Returning None means "not handled here": the pipeline then applies
    its built-in behaviour for a frame whose symbols are unavailable (spec §5.3 "minified / not minified")."""

    def resolve(self, session: Session, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution] | None: ...


class NoSymbols:
    """No symbol sets: every frame gets the pipeline's built-in unavailable-symbols treatment."""

    def resolve(self, session: Session, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution] | None:
        return None
