"""The internal event: what ingestion hands the digest, whatever protocol the SDK spoke.

PostHog's capture document maps onto it today (`faultline.pipeline.parse`). The optional attributes below the
PostHog ones are the room the Sentry protocol needs (next issue): exception chains come as `ExceptionEntry`s linked
by `Mechanism.exception_id/parent_id` exactly as PostHog's are; a Sentry `fingerprint` with `{{ default }}` is
`fingerprint_template`; `message` carries a message-only event (no exception at all); frames keep `in_app`, context
lines and `vars` in `RawFrame.data` and come out as `Frame.code_variables`. None of them is filled yet.

The exception entry keeps the wire JSON it was cleaned into (`ExceptionEntry.json`): that dict is what is stored
in `$exception_list` (with the resolved stack in place of the raw one), so its keys and their order stay exactly
what they were.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from faultline.protocol.frame import Frame

# Raw JSON as decoded from the wire; only ever read defensively.
JSON = Any
# Event properties: a JSON object, stored as sent (minus reserved keys) plus the digest's own `$exception_*` keys.
Properties = dict[str, Any]


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(slots=True)
class Mechanism:
    """How the exception was captured (`mechanism` of the wire entry): handled or not, and its place in a chain."""

    type: str | None = None
    handled: bool | None = None
    exception_id: int | None = None
    parent_id: int | None = None
    source: str | None = None
    synthetic: bool | None = None

    @classmethod
    def from_json(cls, value: JSON) -> Mechanism:
        if not isinstance(value, Mapping):
            return cls()
        kind, handled, source, synthetic = (
            value.get("type"),
            value.get("handled"),
            value.get("source"),
            value.get("synthetic"),
        )
        return cls(
            type=kind if isinstance(kind, str) else None,
            handled=handled if isinstance(handled, bool) else None,
            exception_id=_int_or_none(value.get("exception_id")),
            parent_id=_int_or_none(value.get("parent_id")),
            source=source if isinstance(source, str) else None,
            synthetic=synthetic if isinstance(synthetic, bool) else None,
        )


@dataclass(slots=True)
class RawFrame:
    """One frame as the SDK sent it. `data` is the untrusted JSON object (the platforms read it defensively and
    keep it whole in the resolved frame's `junk_drawer.raw_frame`, which is what a later re-resolution reads)."""

    data: Mapping[str, JSON]

    @property
    def platform(self) -> str | None:
        value = self.data.get("platform")
        return value if isinstance(value, str) else None


@dataclass(slots=True)
class ExceptionEntry:
    """One exception of an event, outermost first; its frames oldest caller first.

    The mechanism and the frames are typed on access (`mechanism`, `frames`) rather than up front: the digest
    reads neither from most events, and every object built per frame is one more the garbage collector walks
    (bench/ingest.py: eager objects cost ~7% of the parse stage and more under GC). `raw_frames` is the wire list.
    """

    type: str
    value: str
    id: str
    # The cleaned wire entry, as stored: `type`, `value`, `mechanism`, `id` and every other key the SDK sent.
    json: dict[str, JSON]
    raw_frames: list[Mapping[str, JSON]] | None  # None: no stack trace sent
    module: str | None = None  # Sentry's `module` of the exception type (next issue)

    @property
    def mechanism(self) -> Mechanism:
        return Mechanism.from_json(self.json.get("mechanism"))

    @property
    def frames(self) -> list[RawFrame] | None:
        return [RawFrame(f) for f in self.raw_frames] if self.raw_frames is not None else None

    def __getitem__(self, key: str) -> JSON:
        """Read access to the stored JSON entry (what `$exception_list` holds)."""
        return self.json[key]

    def get(self, key: str, default: JSON = None) -> JSON:
        return self.json.get(key, default)


@dataclass(slots=True)
class SdkInfo:
    name: str | None = None
    version: str | None = None


@dataclass(slots=True)
class UserInfo:
    """Sentry's `user` (id, email, username, ip_address, and whatever else the SDK sends)."""

    id: str | None = None
    email: str | None = None
    username: str | None = None
    ip_address: str | None = None
    data: dict[str, JSON] = field(default_factory=dict)


@dataclass(slots=True)
class Breadcrumb:
    timestamp: dt.datetime | None = None
    category: str | None = None
    message: str | None = None
    level: str | None = None
    type: str | None = None
    data: dict[str, JSON] = field(default_factory=dict)


@dataclass(slots=True)
class Event:
    """One event to digest (spec §5.1), parsed and bounded; everything a stage needs without touching the wire."""

    project_id: int
    uuid: uuid.UUID
    properties: Properties
    exceptions: list[ExceptionEntry]
    timestamp: dt.datetime
    received_at: dt.datetime
    distinct_id: str | None
    lib: str | None
    lib_version: str | None
    level: str | None
    client_fingerprint: str | None = None
    errors: list[str] = field(default_factory=list)
    # --- room for the Sentry protocol (filled by the next issue's mapping; None/empty for PostHog events) ---
    message: str | None = None  # message-only events carry no exception
    fingerprint_template: list[str] | None = None  # Sentry `fingerprint`, may contain "{{ default }}"
    release: str | None = None
    environment: str | None = None
    user: UserInfo | None = None
    tags: dict[str, str] | None = None
    contexts: dict[str, JSON] | None = None
    request: dict[str, JSON] | None = None
    breadcrumbs: list[Breadcrumb] | None = None
    sdk: SdkInfo | None = None
    # (None rather than empty containers: each would be one more object per event for the garbage collector.)


@dataclass(slots=True)
class ResolvedException:
    """An exception after frame resolution: what fingerprinting, rules, linking and storing read.

    `json` is the stored entry (wire entry after parsing, or a stored `$exception_list` entry when re-processing);
    `frames` are its resolved frames, typed, and `frames_json` the same frames as stored. `resolved_stack` says
    the entry has a resolved stack trace (which changes what the fingerprint takes from it).
    """

    json: dict[str, JSON]
    frames: list[Frame]
    frames_json: list[dict[str, JSON]] | None = None
    resolved_stack: bool = False

    @classmethod
    def from_stored(cls, entry: Mapping[str, JSON]) -> ResolvedException:
        stack = entry.get("stacktrace")
        frames: list[Frame] = []
        stored: list[dict[str, JSON]] | None = None
        if isinstance(stack, Mapping):
            stored = list(stack.get("frames") or [])
            frames = [Frame.from_json(f) for f in stored]
        resolved = isinstance(stack, Mapping) and stack.get("type") == "resolved"
        return cls(dict(entry), frames, stored, resolved)

    def as_json(self) -> dict[str, JSON]:
        if self.frames_json is None:
            return self.json
        return {**self.json, "stacktrace": {"type": "resolved", "frames": self.frames_json}}
