"""Issue-list query parameters, parsed once for the REST API and the UI.

Everything a user filters or sorts by is answered from the `issues` row and its aggregate columns (see
`faultline.issues.queries`) — except `key:value` terms in the search text (`$lib:posthog-js`,
`$browser:"Mobile Safari"`), which select issues having at least one event whose property equals the value, as in
Sentry's structured search. Bad values raise `FilterError` naming the parameter, which the API reports as a 400.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from faultline.ids import parse_uuid
from faultline.issues.models import IssueStatus
from faultline.issues.sanitize import clean_text

ORDER_FIELDS = ("last_seen", "first_seen", "occurrences", "users", "created_at")
DEFAULT_ORDER = "last_seen"
SEARCH_MAX = 200

# PostHog's relative dates: -24h, -7d, -2w, -3m (months), -1y, -30M (minutes).
_RELATIVE = re.compile(r"^-(\d{1,6})([hdwmyM])$")
_RELATIVE_UNITS = {"M": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class FilterError(ValueError):
    def __init__(self, attr: str, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.attr = attr
        self.message = message
        self.code = code


@dataclass(frozen=True)
class AssigneeFilter:
    """`kind`: "me", "my_roles", "unassigned", "any", "user" (with user_id) or "role" (with role_id)."""

    kind: str
    user_id: int | None = None
    role_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PropertyTerm:
    """`key:value` from the search box: an event property equal to `value` (`*` matches any run of characters)."""

    key: str
    value: str


# `key:value` or `key:"quoted value"`, at the start or after whitespace. Keys look like event property names; a
# value may not start with `//`, so a pasted URL ("https://…") stays free text.
_PROPERTY_TERM = re.compile(r'(?<!\S)(\$?[A-Za-z_][\w$.\-]{0,99}):(?:"([^"]{1,200})"|(?!//)([^\s"]{1,200}))(?!\S)')
MAX_PROPERTY_TERMS = 10


def split_search(text: str) -> tuple[str | None, tuple[PropertyTerm, ...]]:
    """Free text (name, message, type substring) and the `key:value` property terms of a search box entry.

    A free-text part wrapped in double quotes is taken literally, so `"a:b"` searches for the text `a:b`.
    """
    terms: list[PropertyTerm] = []

    def take(match: re.Match[str]) -> str:
        if len(terms) >= MAX_PROPERTY_TERMS:
            return match.group(0)
        terms.append(PropertyTerm(key=match.group(1), value=match.group(2) or match.group(3)))
        return " "

    rest = " ".join(_PROPERTY_TERM.sub(take, text).split())
    if len(rest) >= 2 and rest.startswith('"') and rest.endswith('"'):
        rest = rest[1:-1].strip()
    return rest or None, tuple(dict.fromkeys(terms))


@dataclass(frozen=True)
class IssueQuery:
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    assignee: AssigneeFilter | None = None
    search: str | None = None
    properties: tuple[PropertyTerm, ...] = ()
    first_seen_after: dt.datetime | None = None
    first_seen_before: dt.datetime | None = None
    last_seen_after: dt.datetime | None = None
    last_seen_before: dt.datetime | None = None
    # Activity overlapping a window: seen at or after date_from and first seen at or before date_to.
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    order_by: str = DEFAULT_ORDER
    descending: bool = True


def _months_back(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    if year < 1:
        raise OverflowError
    # Clamp the day (31 March minus one month is 28/29 February).
    next_month = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def parse_datetime(attr: str, raw: str, now: dt.datetime) -> dt.datetime:
    """ISO 8601 (naive means UTC), a bare date, or a relative offset such as `-7d`."""
    text = raw.strip()
    match = _RELATIVE.match(text)
    try:
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            if unit in _RELATIVE_UNITS:
                return now - dt.timedelta(**{_RELATIVE_UNITS[unit]: amount})
            return _months_back(now, amount * (12 if unit == "y" else 1))
        if len(text) > 64:
            raise ValueError
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        raise FilterError(
            attr, "Datetime has wrong format. Use ISO 8601 or a relative value such as -7d.", "invalid"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _choices(attr: str, raw: str, allowed: tuple[str, ...], *, all_value: str | None = None) -> tuple[str, ...]:
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if all_value is not None and all_value in values:
        return ()
    for value in values:
        if value not in allowed:
            raise FilterError(attr, f'"{clean_text(value)[:100]}" is not a valid choice.', "invalid_choice")
    return tuple(dict.fromkeys(values))


def parse_assignee(raw: str) -> AssigneeFilter:
    text = raw.strip()
    lowered = text.lower()
    if lowered in ("me", "my_roles", "unassigned", "any"):
        return AssigneeFilter(kind=lowered)
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = ("user" if text.isdigit() else "role"), text
    if kind == "user" and rest.isdigit() and len(rest) <= 12:
        return AssigneeFilter(kind="user", user_id=int(rest))
    if kind == "role":
        role_id = parse_uuid(rest)
        if role_id is not None:
            return AssigneeFilter(kind="role", role_id=role_id)
    raise FilterError(
        "assignee",
        'Use "me", "my_roles", "unassigned", "any", a user id ("user:12") or a role id ("role:<uuid>").',
        "invalid",
    )


def parse_issue_query(params: Mapping[str, str], now: dt.datetime) -> IssueQuery:
    """Build an IssueQuery from request parameters (unknown parameters are ignored, like DRF)."""
    values: dict[str, object] = {}
    if raw := params.get("status"):
        values["statuses"] = _choices("status", raw, IssueStatus.ALL, all_value="all")
    if raw := params.get("severity"):
        values["severities"] = _choices("severity", raw, ("low", "medium", "high", "critical"))
    if raw := params.get("assignee"):
        values["assignee"] = parse_assignee(raw)
    if raw := params.get("search"):
        text = clean_text(raw.strip())
        if len(text) > SEARCH_MAX:
            raise FilterError("search", f"Ensure this field has no more than {SEARCH_MAX} characters.", "max_length")
        values["search"], values["properties"] = split_search(text)
    for name in (
        "first_seen_after",
        "first_seen_before",
        "last_seen_after",
        "last_seen_before",
        "date_from",
        "date_to",
    ):
        if raw := params.get(name):
            values[name] = parse_datetime(name, raw, now)
    order = params.get("order_by")
    descending = True
    if order:
        order = order.strip()
        if order.startswith("-"):
            order = order[1:]
        elif order.startswith("+"):
            order, descending = order[1:], False
        if order not in ORDER_FIELDS:
            raise FilterError("order_by", f'"{clean_text(order)[:100]}" is not a valid choice.', "invalid_choice")
        values["order_by"] = order
    if direction := params.get("order_direction"):
        normalized = direction.strip().upper()
        if normalized not in ("ASC", "DESC"):
            raise FilterError(
                "order_direction", f'"{clean_text(direction)[:100]}" is not a valid choice.', "invalid_choice"
            )
        descending = normalized == "DESC"
    values["descending"] = descending
    return IssueQuery(**values)  # type: ignore[arg-type]
