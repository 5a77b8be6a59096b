"""Per-issue breakdowns: which browsers, systems, releases, environments, pages and SDK versions an issue happens
in, and who it affects.

Release and environment are exact (the issue's tags, `faultline.issues.tags`). The rest have too many values to
keep counters for, so they are counted over the issue's most recent `SAMPLE` events — one range of the
(issue_id, timestamp) index reading small columns the digest filled (`events.browser/os/url`, `lib`, `distinct_id`),
never the stored JSON — which keeps the issue page's cost flat however many events the issue has. Events stored
before those columns existed count as "unknown". The answer says how many events it counted.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.issues import tags
from faultline.issues.models import Event

SAMPLE = 500
TOP = 5
MAX_LABEL = 200

# (dimension = `events` column, label)
SAMPLED: tuple[tuple[str, str], ...] = (("browser", "Browser"), ("os", "OS"), ("url", "URL"))
EXACT: tuple[tuple[str, str], ...] = ((tags.RELEASE, "Release"), (tags.ENVIRONMENT, "Environment"))


def _shares(counter: Counter[str], total: int) -> list[dict[str, Any]]:
    top = counter.most_common(TOP)
    rows = [{"value": value, "count": n, "share": n / total if total else 0.0} for value, n in top]
    rest = sum(counter.values()) - sum(n for _v, n in top)
    if rest:
        rows.append({"value": None, "count": rest, "share": rest / total if total else 0.0})
    return rows


def facts(properties: Mapping[str, Any]) -> dict[str, str | None]:
    """The event's browser, OS and URL as the breakdowns count them (stored in `events` columns by the digest)."""
    return {
        "browser": _label(properties.get("$browser"), properties.get("$browser_version")),
        "os": _label(properties.get("$os"), properties.get("$os_version")),
        "url": _url(properties.get("$current_url")),
    }


def _label(*parts: Any) -> str | None:
    shown = [str(p).strip() for p in parts if p is not None and str(p).strip()]
    return " ".join(shown)[:MAX_LABEL] if shown else None


def _url(raw: Any) -> str | None:
    """Pages are grouped without their query string and fragment (ids, tokens, tracking parameters)."""
    if not isinstance(raw, str) or not raw:
        return None
    return raw.split("#", 1)[0].split("?", 1)[0][:MAX_LABEL]


def breakdowns(session: Session, issue_id: uuid.UUID, total_events: int, total_users: int) -> dict[str, Any]:
    """`{"sample": n, "dimensions": [{"key", "label", "exact", "values": [{value, count, share}]}], "users": {...}}`.

    `value` None in a row stands for "everything else"; shares are of the counted events (exact dimensions: of all
    the issue's events)."""
    rows = session.execute(
        sa.select(Event.lib, Event.lib_version, Event.distinct_id, Event.browser, Event.os, Event.url)
        .where(Event.issue_id == issue_id)
        .order_by(Event.timestamp.desc(), Event.id.desc())
        .limit(SAMPLE)
    ).all()
    sample = len(rows)
    counters: dict[str, Counter[str]] = {dim: Counter() for dim, _l in SAMPLED}
    libraries: Counter[str] = Counter()
    users: Counter[str] = Counter()
    for row in rows:
        for dim, value in (("browser", row.browser), ("os", row.os), ("url", row.url)):
            if value:
                counters[dim][value] += 1
        library = _label(row.lib, row.lib_version)
        if library:
            libraries[library] += 1
        if row.distinct_id:
            users[row.distinct_id[:MAX_LABEL]] += 1
    dimensions: list[dict[str, Any]] = []
    for key, label in EXACT:
        found = tags.issue_tags(session, issue_id, key, limit=1000)
        counter = Counter({entry["value"]: entry["count"] for entry in found})
        dimensions.append({"key": key, "label": label, "exact": True, "values": _shares(counter, max(total_events, 1))})
    for dim, label in SAMPLED:
        dimensions.append({"key": dim, "label": label, "exact": False, "values": _shares(counters[dim], sample)})
    dimensions.append({"key": "library", "label": "SDK", "exact": False, "values": _shares(libraries, sample)})
    return {
        "sample": sample,
        "sample_limit": SAMPLE,
        "dimensions": [d for d in dimensions if d["values"]],
        "users": {"total": total_users, "top": _shares(users, sample)},
    }


def as_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """The REST shape: shares rounded, "everything else" named `other`."""

    def rows(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"value": v["value"], "other": v["value"] is None, "count": v["count"], "share": round(v["share"], 4)}
            for v in values
        ]

    return {
        "sample": result["sample"],
        "sample_limit": result["sample_limit"],
        "dimensions": [
            {"key": d["key"], "label": d["label"], "exact": d["exact"], "values": rows(d["values"])}
            for d in result["dimensions"]
        ],
        "users": {"total": result["users"]["total"], "top": rows(result["users"]["top"])},
    }
