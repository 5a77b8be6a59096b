"""Plain-text renderings of the shown event, for the issue page's "copy traceback" and "copy as Markdown" buttons.

Both are built on the server from the same page model as the stack trace (`faultline.web.stacktrace`), embedded in
the page and copied by a few lines of vanilla JS, so they work offline and behind a strict CSP (no fetch, no CDN).

* The traceback reads like the trace on screen: outermost exception first, most recent call first, each link of the
  chain introduced by its relation ("Caused by", "While handling"), the crashing source line under its frame.
* The Markdown is what one pastes into an AI assistant: the issue, where and how often it happens, the chain with the
  in-app frames' context lines and local variables (library frames only named), and a closing question. It is
  bounded (frames, lines, characters) so that a 300-frame trace still fits a prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from faultline.web.events import EventSummary
from faultline.web.stacktrace import ExceptionView, FrameView

MAX_MARKDOWN_CHARS = 20_000
MAX_APP_FRAMES = 8
MAX_VARIABLES = 20
MAX_VARIABLE_CHARS = 200
_FENCE_LANGS = {"python": "python", "javascript": "javascript", "node": "javascript", "ruby": "ruby", "go": "go"}


def _crash_line(frame: FrameView) -> str | None:
    for line in frame.context:
        if line.crash:
            return line.text.strip() or None
    return None


def _frame_line(frame: FrameView) -> str:
    return f"  at {frame.function} ({frame.location})"


def traceback_text(chain: Sequence[ExceptionView]) -> str:
    """The chain as text, frames most recent call first (as on the page)."""
    lines: list[str] = []
    for exc in chain:
        head = f"{exc.type}: {exc.value}" if exc.value else exc.type
        if exc.relation:
            head = f"{exc.relation[0].upper()}{exc.relation[1:]}: {head}"
        lines.append(head)
        for frame in exc.frames:
            lines.append(_frame_line(frame))
            crash = _crash_line(frame)
            if crash:
                lines.append(f"      {crash}")
        if exc.hidden_frames:
            lines.append(f"  … {exc.hidden_frames} older frames not shown")
    return "\n".join(lines)


def _fence(frame: FrameView) -> str:
    return _FENCE_LANGS.get((frame.lang or "").lower(), "")


def _code_block(frame: FrameView) -> list[str]:
    if not frame.context:
        return []
    width = (
        max(len(str(line.number)) for line in frame.context if line.number is not None)
        if any(line.number is not None for line in frame.context)
        else 0
    )
    body = []
    for line in frame.context:
        number = str(line.number) if line.number is not None else ""
        marker = ">" if line.crash else " "
        body.append(f"{marker}{number.rjust(width)} | {line.text}")
    return [f"```{_fence(frame)}", *body, "```"]


def _variables(frame: FrameView) -> list[str]:
    if not frame.variables:
        return []
    out = ["Local variables:"]
    for name, value in frame.variables[:MAX_VARIABLES]:
        shown = value if len(value) <= MAX_VARIABLE_CHARS else value[:MAX_VARIABLE_CHARS] + "…"
        out.append(f"- `{name}` = `{shown.replace('`', 'ˋ')}`")
    if len(frame.variables) > MAX_VARIABLES:
        out.append(f"- … {len(frame.variables) - MAX_VARIABLES} more")
    return out


def _facts(summary: EventSummary | None, issue: Mapping[str, Any], url: str) -> list[str]:
    agg = issue.get("aggregates") or {}
    facts = [f"- Issue: {url}", f"- Status: {issue.get('status')}"]
    facts.append(f"- Seen {agg.get('occurrences', 0)} times by {agg.get('users', 0)} users")
    if agg.get("first_seen") and agg.get("last_seen"):
        first, last = agg["first_seen"], agg["last_seen"]
        facts.append(f"- First seen {first:%Y-%m-%d %H:%M} UTC, last seen {last:%Y-%m-%d %H:%M} UTC")
    if summary is not None:
        for label, value in (
            ("Release", summary.release),
            ("SDK", summary.lib),
            ("Runtime", summary.runtime),
            ("Browser", summary.browser),
            ("OS", summary.os),
            ("URL", summary.url),
            ("Level", summary.level),
        ):
            if value:
                facts.append(f"- {label}: {value}")
        if summary.handled is not None:
            facts.append(f"- Handled by the application: {'yes' if summary.handled else 'no'}")
    return facts


def _library_note(frames: Iterable[FrameView]) -> str | None:
    names = list(dict.fromkeys(f.module or f.source or f.function for f in frames if not f.in_app))
    if not names:
        return None
    shown = ", ".join(f"`{n}`" for n in names[:5]) + ("…" if len(names) > 5 else "")
    return f"Library frames (not shown): {shown}"


def markdown(chain: Sequence[ExceptionView], summary: EventSummary | None, issue: Mapping[str, Any], url: str) -> str:
    """The issue as a Markdown prompt for an AI assistant."""
    title = issue.get("name") or (chain[0].type if chain else "Error")
    lines = [f"# Error: {title}", ""]
    if issue.get("description"):
        lines += [str(issue["description"]), ""]
    lines += _facts(summary, issue, url)
    lines += ["", "## Exception chain (outermost first, most recent call first)"]
    for exc in chain:
        heading = f"{exc.type}: {exc.value}" if exc.value else exc.type
        prefix = f"{exc.relation[0].upper()}{exc.relation[1:]} " if exc.relation else ""
        lines += ["", f"### {prefix}`{heading[:500]}`"]
        app_frames = [f for f in exc.frames if f.in_app][:MAX_APP_FRAMES]
        if not app_frames:
            lines.append("No frames from the application's own code.")
        for index, frame in enumerate(app_frames, 1):
            lines += ["", f"{index}. `{frame.function}` in `{frame.location}`"]
            lines += _code_block(frame)
            lines += _variables(frame)
        note = _library_note(exc.frames)
        if note:
            lines += ["", note]
    lines += [
        "",
        "## Question",
        "What is the most likely root cause of this error, and how should the code be changed to fix it?",
    ]
    text = "\n".join(lines)
    if len(text) > MAX_MARKDOWN_CHARS:
        text = text[:MAX_MARKDOWN_CHARS] + "\n\n… (cut to keep the prompt short)"
    return text
