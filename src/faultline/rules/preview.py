"""What a rule would have done: its filters run over the project's recently stored events (a "dry run").

A blank suppression form used to save a match-everything rule that silently dropped every event. Showing the
effect before saving — "matches 1 204 of the last 7 days' 1 204 events across 37 issues (would drop all of them)"
— makes that visible, and lets the UI ask for an explicit confirmation before a rule that matches everything.

The events are the stored ones (after grouping, as the digest evaluates rules: with `$exception_types`,
`$exception_fingerprint`… in their properties), newest first, at most `limit` of them, so the cost is bounded by
`FAULTLINE_RULE_PREVIEW_EVENTS` whatever the traffic; the answer says when it looked at fewer than all of them.
Events that a suppression rule already dropped were never stored, so they cannot be counted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.issues.models import Event, Issue
from faultline.rules.engine import sampling_bucket, sampling_threshold
from faultline.rules.filters import compile_filters, has_filter_values
from faultline.rules.service import RuleError, check_compiles

PreviewKind = Literal["suppression", "grouping", "assignment"]
WINDOW_DAYS = 7
TOP_ISSUES = 5


@dataclass
class RulePreview:
    kind: PreviewKind
    window_days: int
    events_considered: int  # events evaluated (the newest ones, at most the limit)
    events_in_window: int  # every stored event of the window
    matched_events: int
    matched_issues: int
    # Suppression: events the sampling rate would actually drop; grouping/assignment: same as matched_events.
    affected_events: int
    # No condition at all: every event matches, whatever the data says.
    match_all: bool
    top_issues: list[dict[str, Any]] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.events_considered < self.events_in_window

    @property
    def matches_everything(self) -> bool:
        """Needs an explicit confirmation: no conditions, or conditions every recent event meets."""
        return self.match_all or (self.events_considered > 0 and self.matched_events == self.events_considered)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "window_days": self.window_days,
            "events_considered": self.events_considered,
            "events_in_window": self.events_in_window,
            "truncated": self.truncated,
            "matched_events": self.matched_events,
            "matched_issues": self.matched_issues,
            "affected_events": self.affected_events,
            "match_all": self.match_all,
            "matches_everything": self.matches_everything,
            "top_issues": self.top_issues,
        }


def preview_rule(
    session: Session,
    project_id: int,
    kind: PreviewKind,
    filters: Mapping[str, Any] | None,
    *,
    now: dt.datetime,
    limit: int,
    sampling_rate: float = 1.0,
) -> RulePreview:
    """Evaluate `filters` (a valid PostHog filter group, or None for match-all) over the last 7 days' events."""
    filters = dict(filters) if filters is not None else {"type": "AND", "values": []}
    check_compiles(filters)
    try:
        predicate = compile_filters(filters)
    except RecursionError:
        raise RuleError("filters are nested too deeply") from None
    since = now - dt.timedelta(days=WINDOW_DAYS)
    window = (Event.project_id == project_id, Event.timestamp >= since, Event.timestamp <= now)
    in_window = int(session.execute(sa.select(sa.func.count()).select_from(Event).where(*window)).scalar_one())
    threshold = sampling_threshold(sampling_rate) if kind == "suppression" else None
    rows = session.execute(
        sa.select(Event.uuid, Event.issue_id, Event.properties, Issue.status, Issue.name, Issue.description)
        .join(Issue, Issue.id == Event.issue_id)
        .where(*window)
        .order_by(Event.timestamp.desc(), Event.id.desc())
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    considered = matched = affected = 0
    per_issue: Counter[uuid.UUID] = Counter()
    names: dict[uuid.UUID, str | None] = {}
    for event_uuid, issue_id, properties, status, name, description in rows:
        considered += 1
        props = properties if isinstance(properties, Mapping) else {}
        issue = {"status": status, "name": name, "description": description} if kind == "assignment" else None
        try:
            hit = predicate(props, issue)
        except Exception:  # the digest would disable the rule on this event; the preview just does not count it
            hit = False
        if not hit:
            continue
        matched += 1
        per_issue[issue_id] += 1
        names.setdefault(issue_id, name)
        if threshold is None or sampling_bucket(event_uuid) < threshold:
            affected += 1
    top = [
        {"id": issue_id, "name": names.get(issue_id), "events": n} for issue_id, n in per_issue.most_common(TOP_ISSUES)
    ]
    return RulePreview(
        kind=kind,
        window_days=WINDOW_DAYS,
        events_considered=considered,
        events_in_window=in_window,
        matched_events=matched,
        matched_issues=len(per_issue),
        affected_events=affected,
        match_all=not has_filter_values(filters),
        top_issues=top,
    )


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """`1 event`, `2 events`, `1,204 issues`."""
    word = noun if count == 1 else (plural_noun or noun + "s")
    return f"{count:,} {word}"


def describe(preview: RulePreview) -> str:
    """One sentence for people: what the rule would have done over the window."""
    scope = (
        f"the newest {plural(preview.events_considered, 'event')} of the last {preview.window_days} days "
        f"({plural(preview.events_in_window, 'event')} in all)"
        if preview.truncated
        else f"the last {preview.window_days} days' {plural(preview.events_in_window, 'event')}"
    )
    head = f"Matches {preview.matched_events:,}" + f" of {scope} across {plural(preview.matched_issues, 'issue')}"
    if preview.kind == "suppression":
        if preview.affected_events == preview.matched_events:
            tail = "would drop all of them" if preview.matched_events else "would drop nothing"
        else:
            tail = f"would drop {plural(preview.affected_events, 'event')} (sampling rate)"
    elif preview.kind == "grouping":
        tail = (
            f"would merge {plural(preview.matched_issues, 'issue')} into one"
            if preview.matched_issues > 1
            else "would move them into an issue of their own"
        )
    else:
        tail = f"would assign {plural(preview.matched_issues, 'issue')} when they are next created or reopened"
    return f"{head}: {tail}."
