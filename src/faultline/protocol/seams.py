"""The seams the digest calls the domains through, fixed up front so the two sides can change independently.

The pipeline (spec §5) calls two collaborators it does not own:

* **rules** (`faultline.rules`): grouping rules choose a `custom-rule:<id>` fingerprint, suppression rules drop
  events after fingerprinting, assignment rules assign newly created or reopened issues;
* **symbols** (`faultline.symbols`): frames of platforms that need symbol data (web:javascript, node:javascript,
  hermes, java) are resolved against uploaded or fetched symbol sets.

The defaults below are the behaviour with no rules and no symbol sets at all; the pipeline is constructed with
whatever providers the composition root wires in, so tests can swap them too.

`Assignee` and `GroupingDecision` live here rather than in accounts/rules because they are what crosses the seam
(`ProjectRules` answers them); `protocol` imports no domain, so every domain may import it.
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

    def bypass(self, properties: Mapping[str, Any]) -> uuid.UUID | None:
        """The id of the first bypass rule matching the event (with `$exception_issue_id` set): it skips rate limits."""
        ...

    def severity(self, properties: Mapping[str, Any]) -> str | None:
        """The severity the first matching severity rule gives a new issue, or None."""
        ...


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

    def bypass(self, properties: Mapping[str, Any]) -> uuid.UUID | None:
        return None

    def severity(self, properties: Mapping[str, Any]) -> str | None:
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


@dataclass
class AppliedSymbols:
    """What applying a batch's symbol writes found out (see `SymbolBatch.apply`).

    `replaced_ids` maps a `symbol_set_id` handed out by `resolve` to the id the stack-frame rows must store instead:
    the row another process created for the same ref first, or None when the set was deleted meanwhile. `stale` says
    the symbol data changed since `resolve` read it (an upload landed), so resolving again would give other frames.
    """

    replaced_ids: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    stale: bool = False


class SymbolBatch(Protocol):
    """The symbol work of one digest batch, split in two so that slow work never holds the write transaction.

    SQLite has a single writer: a script fetch (seconds) or a SourceMapCache build inside the digest transaction
    would stall every API write and the next batch. So:

    1. `resolve` runs *before* the write transaction, on the read session the batch was opened with. It may read
       symbol-set rows, load blobs, fetch scripts and source maps, build caches — but it must not write to the
       database; it records the rows it wants written (negative rows, `last_used`, failure reasons) instead.
    2. `apply` runs first inside the write transaction and makes those writes.
    3. `finish` runs once that transaction has ended, committed or not (share cached rows, drop orphaned blobs).

    Returning None from `resolve` means "not handled here": the pipeline then applies its built-in behaviour for a
    frame whose symbols are unavailable (spec §5.3 "minified / not minified").
    """

    def resolve(self, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution] | None: ...

    def apply(self, session: Session) -> AppliedSymbols: ...

    def finish(self, committed: bool) -> None: ...


class SymbolResolver(Protocol):
    """Process-wide symbol machinery; hands out one `SymbolBatch` per digest batch (or repair chunk)."""

    def batch(self, session: Session) -> SymbolBatch:
        """Start a batch that reads through `session`, a *read* session: the batch may end its transaction at any
        point (before waiting on the network, so no snapshot or pooled connection is held across a fetch)."""
        ...


class NoSymbols:
    """No symbol sets: every frame gets the pipeline's built-in unavailable-symbols treatment."""

    def batch(self, session: Session) -> SymbolBatch:
        return self

    def resolve(self, project_id: int, frame: Mapping[str, Any]) -> list[FrameResolution] | None:
        return None

    def apply(self, session: Session) -> AppliedSymbols:
        return AppliedSymbols()

    def finish(self, committed: bool) -> None:
        return None
