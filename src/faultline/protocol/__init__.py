"""Typed objects that flow between the digest's stages, and the seams the pipeline calls the domains through.

Nothing here knows a wire protocol, a platform or the database: `ingest` maps a PostHog capture document (and next
a Sentry envelope) onto an `Event`; `platforms` turns its `RawFrame`s into `Frame`s; `pipeline` runs the stages
over these objects; the domains (rules, symbols) implement the seams in `protocol.seams`. It is the leaf of the
dependency graph: it imports no other faultline package.

Plain dataclasses with `slots=True`, not pydantic: the digest builds thousands of these a second and validation
happened already, at the wire (bench/ingest.py measures it). `Any` appears only where raw JSON passes through
(`RawFrame.data`, the exception entry's wire dict, event properties).
"""

from faultline.protocol.event import (
    JSON,
    Breadcrumb,
    Event,
    ExceptionEntry,
    Mechanism,
    Properties,
    RawFrame,
    ResolvedException,
    SdkInfo,
    UserInfo,
)
from faultline.protocol.frame import ContextLine, Frame, FrameContext, ResolvedFrame
from faultline.protocol.seams import (
    AppliedSymbols,
    Assignee,
    FrameResolution,
    GroupingDecision,
    NoRules,
    NoSymbols,
    ProjectRules,
    RulesProvider,
    SymbolBatch,
    SymbolResolver,
)

__all__ = [
    "JSON",
    "AppliedSymbols",
    "Assignee",
    "Breadcrumb",
    "ContextLine",
    "Event",
    "ExceptionEntry",
    "Frame",
    "FrameContext",
    "FrameResolution",
    "GroupingDecision",
    "Mechanism",
    "NoRules",
    "NoSymbols",
    "ProjectRules",
    "Properties",
    "RawFrame",
    "ResolvedException",
    "ResolvedFrame",
    "RulesProvider",
    "SdkInfo",
    "SymbolBatch",
    "SymbolResolver",
    "UserInfo",
]
