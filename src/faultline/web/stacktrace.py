"""Turn a stored (resolved) `$exception_list` into what the issue page shows.

Decisions that make a trace faster to read than the anchors' (see shared/ui-anchors):

* The chain is shown outermost first — the exception the issue is named after — and each further link says how it
  relates: "caused by" (`raise … from`, JS `cause`), "while handling" (Python's implicit context) or "in exception
  group". Order comes from `mechanism.exception_id/parent_id` when the SDK sent them, else the stored order.
* Frames are shown most recent call first, so the crashing frame is the first thing on screen.
* Consecutive library (not in-app) frames are folded into one collapsible run; in-app frames stay visible, and the
  top in-app frame of each exception opens with its context lines and the crashing line marked.
* A frame that could not be mapped shows `resolve_failure`: the "why not mapped" answer users of source maps lack.

Event properties come from SDKs and are untrusted: every field is read defensively and bounded, so a malformed event
renders as "unknown" rather than breaking the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from faultline.ids import parse_ascii_int
from faultline.pipeline.normalize import order_by_links
from faultline.platforms import code_variables
from faultline.web import highlight

MAX_EXCEPTIONS = 50
MAX_FRAMES = 300
MAX_LINE_CHARS = 400
# Local variables shown per frame, and characters per value: enough to read a request object's repr, bounded so a
# frame holding a huge structure cannot make the page heavy (the whole event is bounded by FAULTLINE_MAX_EVENT_BYTES).
MAX_VARIABLES = 100
MAX_VARIABLE_CHARS = 1000
# Lines shown either side of the crashing line: enough to read the statement, short enough to see the next frame.
CONTEXT_RADIUS = 5

RELATION_LABELS = {
    "cause": "caused by",
    "context": "while handling",
    "member": "in exception group",
}


@dataclass(frozen=True)
class ContextLine:
    number: int | None
    text: str
    crash: bool = False
    # Syntax-highlighted pieces of `text` ((css class, text) each), when the frame's language is known.
    segments: tuple[highlight.Segment, ...] | None = None


@dataclass
class FrameView:
    raw_id: str | None
    function: str
    mangled_name: str | None
    source: str | None
    line: int | None
    column: int | None
    module: str | None
    lang: str | None
    in_app: bool
    resolved: bool
    resolve_failure: str | None
    context: list[ContextLine] = field(default_factory=list)
    variables: list[tuple[str, str]] = field(default_factory=list)
    open: bool = False
    # Local variables the SDK captured (Sentry `vars`, posthog-python `code_variables`): (name, repr) pairs.
    variables: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str:
        where = self.source or self.module or "unknown file"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    @property
    def renamed(self) -> bool:
        """The symbol differs from what the minified/obfuscated code called it."""
        return bool(self.mangled_name) and self.mangled_name != self.function


@dataclass
class FrameRun:
    """Consecutive frames of one kind; library runs are folded in the page."""

    in_app: bool
    frames: list[FrameView]

    @property
    def folded(self) -> bool:
        return not self.in_app

    @property
    def summary(self) -> str:
        names = [f.module or f.source or f.function for f in self.frames]
        distinct = list(dict.fromkeys(n for n in names if n))
        shown = ", ".join(distinct[:3]) + ("…" if len(distinct) > 3 else "")
        count = len(self.frames)
        return f"{count} library frame{'s' if count != 1 else ''}" + (f" ({shown})" if shown else "")


@dataclass
class ExceptionView:
    id: str | None
    type: str
    value: str
    relation: str | None
    handled: bool | None
    mechanism: str | None
    runs: list[FrameRun]
    frame_count: int
    hidden_frames: int
    stack_resolved: bool

    @property
    def frames(self) -> list[FrameView]:
        return [f for run in self.runs for f in run.frames]


def _text(value: Any, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        value = str(value)
    return value[:10_000]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return parse_ascii_int(value, max_digits=11) if isinstance(value, str) else None


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"


def _context_from_stored(context: Any, crash_line: int | None) -> list[ContextLine]:
    """Stored context: `{"before": [{number, line}], "line": {number, line}, "after": [...]}`."""
    if not isinstance(context, Mapping):
        return []
    lines: list[ContextLine] = []
    for key in ("before", "line", "after"):
        entries = context.get(key)
        if key == "line":
            entries = [entries]
        if not isinstance(entries, list):
            continue
        for entry in entries[:50]:
            if not isinstance(entry, Mapping):
                continue
            lines.append(
                ContextLine(number=_int(entry.get("number")), text=_clip(_text(entry.get("line"))), crash=key == "line")
            )
    if lines and not any(line.crash for line in lines) and crash_line is not None:
        lines = [ContextLine(line.number, line.text, line.number == crash_line) for line in lines]
    return lines


def _context_from_raw(frame: Mapping[str, Any], line: int | None) -> list[ContextLine]:
    """Frames the SDK sent with source (Python, Node): pre_context / context_line / post_context."""
    context_line = frame.get("context_line")
    if not isinstance(context_line, str):
        return []
    pre = [p for p in frame.get("pre_context") or [] if isinstance(p, str)][-20:]
    post = [p for p in frame.get("post_context") or [] if isinstance(p, str)][:20]
    start = line - len(pre) if line is not None else None

    def number(offset: int) -> int | None:
        return start + offset if start is not None else None

    lines = [ContextLine(number(i), _clip(text)) for i, text in enumerate(pre)]
    lines.append(ContextLine(line, _clip(context_line), crash=True))
    lines += [ContextLine(number(len(pre) + 1 + i), _clip(text)) for i, text in enumerate(post)]
    return lines


def _variable_text(value: Any) -> str:
    """SDKs send reprs as strings (posthog-python: `"'alice'"`); Sentry may nest objects: shown as compact JSON."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            text = repr(value)
    if len(text) > MAX_VARIABLE_CHARS:
        text = text[:MAX_VARIABLE_CHARS] + f"… ({len(text) - MAX_VARIABLE_CHARS} more characters)"
    return text


def variables_of(frame: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, value) pairs of the frame's local variables, in the order the SDK sent them (declaration order)."""
    found = frame.get("code_variables")
    if not isinstance(found, Mapping):
        junk = frame.get("junk_drawer")
        raw = junk.get("raw_frame") if isinstance(junk, Mapping) else None
        found = code_variables(raw if isinstance(raw, Mapping) else frame)
    if not isinstance(found, Mapping):
        return []
    return [(str(name)[:200], _variable_text(value)) for name, value in list(found.items())[:MAX_VARIABLES]]


def _around_crash(lines: list[ContextLine]) -> list[ContextLine]:
    crash = next((index for index, line in enumerate(lines) if line.crash), None)
    if crash is None:
        return lines
    return lines[max(0, crash - CONTEXT_RADIUS) : crash + CONTEXT_RADIUS + 1]


def frame_view(frame: Mapping[str, Any], contexts: Mapping[str, Any]) -> FrameView:
    view = _frame_view(frame, contexts)
    view.context = _around_crash(view.context)
    view.variables = variables_of(frame)
    return view


def _frame_view(frame: Mapping[str, Any], contexts: Mapping[str, Any]) -> FrameView:
    """One frame, resolved (spec §4.5) or raw (spec §4.3, when resolution never ran)."""
    raw_id = frame.get("raw_id") if isinstance(frame.get("raw_id"), str) else None
    is_resolved_shape = raw_id is not None or "resolved" in frame or "mangled_name" in frame
    if is_resolved_shape:
        mangled = _text(frame.get("mangled_name")) or None
        resolved_name = _text(frame.get("resolved_name")) or None
        line = _int(frame.get("line"))
        view = FrameView(
            raw_id=raw_id,
            function=resolved_name or mangled or "?",
            mangled_name=mangled,
            source=_text(frame.get("source")) or None,
            line=line,
            column=_int(frame.get("column")),
            module=_text(frame.get("module")) or None,
            lang=_text(frame.get("lang")) or None,
            in_app=frame.get("in_app") is not False,
            resolved=frame.get("resolved") is not False,
            resolve_failure=_text(frame.get("resolve_failure")) or None,
        )
        stored = contexts.get(raw_id) if raw_id else None
        view.context = _context_from_stored(stored, line)
        if not view.context:
            junk = frame.get("junk_drawer")
            raw = junk.get("raw_frame") if isinstance(junk, Mapping) else None
            if isinstance(raw, Mapping):
                view.context = _context_from_raw(raw, line)
        return view
    line = _int(frame.get("lineno"))
    view = FrameView(
        raw_id=None,
        function=_text(frame.get("function")) or "?",
        mangled_name=None,
        source=_text(frame.get("filename") or frame.get("abs_path")) or None,
        line=line,
        column=_int(frame.get("colno")),
        module=_text(frame.get("module")) or None,
        lang=_text(frame.get("lang") or frame.get("platform")) or None,
        in_app=frame.get("in_app") is not False,
        resolved=False,
        resolve_failure=None,
    )
    view.context = _context_from_raw(frame, line)
    return view


def _highlight(frames: Sequence[FrameView], done: int) -> int:
    """Colour the context lines of in-app frames until `highlight.MAX_FRAMES` frames of the event have been done."""
    for frame in frames:
        if done >= highlight.MAX_FRAMES:
            break
        if not frame.context or not frame.in_app:
            continue
        done += 1
        pieces = highlight.highlight([line.text for line in frame.context], frame.lang, frame.source)
        if pieces is not None:
            frame.context = [
                ContextLine(line.number, line.text, line.crash, tuple(segments))
                for line, segments in zip(frame.context, pieces, strict=True)
            ]
    return done


def _runs(frames: Sequence[FrameView]) -> list[FrameRun]:
    if frames and not any(f.in_app for f in frames):
        # Nothing of the user's own: folding everything would hide the whole trace.
        return [FrameRun(in_app=True, frames=list(frames))]
    runs: list[FrameRun] = []
    for frame in frames:
        if runs and runs[-1].in_app == frame.in_app:
            runs[-1].frames.append(frame)
        else:
            runs.append(FrameRun(in_app=frame.in_app, frames=[frame]))
    return runs


def _ordered(exceptions: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Outermost first. The digest already stores this order; events stored before a normalisation fix are
    re-ordered with the pipeline's own rule rather than a second copy of it."""
    linked = order_by_links([dict(e) for e in exceptions])
    return list(linked) if linked is not None else list(exceptions)


def _relation(exc: Mapping[str, Any], position: int) -> str | None:
    if position == 0:
        return None
    mechanism = exc.get("mechanism")
    source = mechanism.get("source") if isinstance(mechanism, Mapping) else None
    return RELATION_LABELS.get(source if isinstance(source, str) else "", "caused by")


def build_chain(exception_list: Any, contexts: Mapping[str, Any] | None = None) -> list[ExceptionView]:
    """The page model of one event's exception chain."""
    contexts = contexts or {}
    if not isinstance(exception_list, list):
        return []
    exceptions = [e for e in exception_list[:MAX_EXCEPTIONS] if isinstance(e, Mapping)]
    views: list[ExceptionView] = []
    highlighted = 0
    for position, exc in enumerate(_ordered(exceptions)):
        stack = exc.get("stacktrace")
        raw_frames = stack.get("frames") if isinstance(stack, Mapping) else None
        frames_in = [f for f in raw_frames if isinstance(f, Mapping)] if isinstance(raw_frames, list) else []
        hidden = max(len(frames_in) - MAX_FRAMES, 0)
        # Stored bottom-up (entry point first); shown most recent call first.
        shown = [frame_view(f, contexts) for f in reversed(frames_in[-MAX_FRAMES:])] if frames_in else []
        highlighted = _highlight(shown, highlighted)
        top = next((f for f in shown if f.in_app), shown[0] if shown else None)
        if top is not None:
            top.open = True
        mechanism = exc.get("mechanism") if isinstance(exc.get("mechanism"), Mapping) else {}
        handled = mechanism.get("handled")
        views.append(
            ExceptionView(
                id=_text(exc.get("id")) or None,
                type=_text(exc.get("type"), "Error") or "Error",
                value=_text(exc.get("value")),
                relation=_relation(exc, position),
                handled=handled if isinstance(handled, bool) else None,
                mechanism=_text(mechanism.get("type")) or None,
                runs=_runs(shown),
                frame_count=len(frames_in),
                hidden_frames=hidden,
                stack_resolved=isinstance(stack, Mapping) and stack.get("type") == "resolved",
            )
        )
    return views


def raw_ids(exception_list: Any) -> list[str]:
    """Every frame id an event references, to load stored context lines in one query."""
    found: list[str] = []
    if not isinstance(exception_list, list):
        return found
    for exc in exception_list[:MAX_EXCEPTIONS]:
        stack = exc.get("stacktrace") if isinstance(exc, Mapping) else None
        frames = stack.get("frames") if isinstance(stack, Mapping) else None
        if not isinstance(frames, list):
            continue
        for frame in frames[-MAX_FRAMES:]:
            if isinstance(frame, Mapping) and isinstance(frame.get("raw_id"), str):
                found.append(frame["raw_id"])
    return list(dict.fromkeys(found))


def iter_frames(chain: Iterable[ExceptionView]) -> Iterable[FrameView]:
    for exc in chain:
        yield from exc.frames
