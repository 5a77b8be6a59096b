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

from faultline.errors import ValidationFailed
from faultline.ids import parse_ascii_int, parse_serial_id, parse_uuid
from faultline.issues.models import IssueStatus
from faultline.issues.sanitize import clean_text

ORDER_FIELDS = ("last_seen", "first_seen", "occurrences", "users", "created_at", "severity")
DEFAULT_ORDER = "last_seen"
SEARCH_MAX = 200

# PostHog's relative dates: -24h, -7d, -2w, -3m (months), -1y, -30M (minutes).
_RELATIVE = re.compile(r"-([0-9]{1,6})([hdwmyM])")  # used with fullmatch
_RELATIVE_UNITS = {"M": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class FilterError(ValidationFailed, ValueError):
    """A list query parameter that cannot be applied; `attr` is the parameter."""

    def __init__(self, attr: str, message: str, code: str = "invalid") -> None:
        super().__init__(message, attr, code)
        self.message = message


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


@dataclass(frozen=True)
class TextTerm:
    """One ANDed term of the search box: a word, or a quoted phrase (spaces and all), matched as a case-insensitive
    substring of the issue's text — name, message, exception types and values, function and file names — or, with
    `field` "function" / "file", of its frames' function / file names only."""

    text: str
    field: str = "any"


# One token of the search box, in order of preference: `key:"quoted value"` / `key:value` (a key looks like an
# event property name; a value may not start with `//`, so a pasted URL stays free text), a "quoted phrase", a word.
_TOKEN = re.compile(
    r'(?<!\S)(?P<key>\$?[A-Za-z_][\w$.\-]{0,99}):(?:"(?P<quoted>[^"]{1,200})"|(?!//)(?P<plain>[^\s"]{1,200}))(?!\S)'
    r'|"(?P<phrase>[^"]*)"'
    r"|(?P<word>[^\s\"]+)"
)
MAX_PROPERTY_TERMS = 10
MAX_TEXT_TERMS = 10
MAX_USER_TERMS = 5
# Keys of `key:value` terms that are not event properties.
FIELD_KEYS = {"file": "file", "function": "function", "fn": "function"}
USER_KEYS = frozenset({"user", "email"})


@dataclass(frozen=True)
class SearchParts:
    terms: tuple[TextTerm, ...] = ()
    users: tuple[str, ...] = ()
    properties: tuple[PropertyTerm, ...] = ()


def parse_search(text: str) -> SearchParts:
    """The search box's grammar (what Sentry and GitHub users type):

    * words are ANDed: `TypeError cart` finds issues containing both, anywhere in their text;
    * `"payment gateway"` is one phrase (the words adjacent, in that order);
    * `user:alice` / `user:alice@example.com` (or `email:`): issues seen by that distinct id, or with an event whose
      `email` / `$set.email` property is that address;
    * `file:checkout.py`, `function:handleClick`: a substring of the chain's frame file / function names;
    * any other `key:value` is an event-property term (`$lib:posthog-js`, `$browser:"Mobile Safari"`, `plan:pro*`).

    Each kind of term is bounded (the extra ones are ignored) so a pasted paragraph cannot become a huge query.
    """
    terms: list[TextTerm] = []
    users: list[str] = []
    properties: list[PropertyTerm] = []
    for match in _TOKEN.finditer(text):
        key = match.group("key")
        if key is not None:
            value = match.group("quoted") or match.group("plain")
            lowered = key.lower()
            if lowered in FIELD_KEYS:
                terms.append(TextTerm(value, FIELD_KEYS[lowered]))
            elif lowered in USER_KEYS:
                users.append(value)
            else:
                properties.append(PropertyTerm(key=key, value=value))
            continue
        phrase = match.group("phrase")
        if phrase is not None:
            phrase = " ".join(phrase.split())
            if phrase:
                terms.append(TextTerm(phrase))
            continue
        terms.append(TextTerm(match.group("word")))
    return SearchParts(
        terms=tuple(dict.fromkeys(terms))[:MAX_TEXT_TERMS],
        users=tuple(dict.fromkeys(users))[:MAX_USER_TERMS],
        properties=tuple(dict.fromkeys(properties))[:MAX_PROPERTY_TERMS],
    )


# Issue-tag filters: `release=1.2.0`, `environment=production,staging`, `level=error,fatal` (values ORed).
TAG_PARAMS = ("release", "environment", "level")
TAG_VALUES_MAX = 20


@dataclass(frozen=True)
class IssueQuery:
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    assignee: AssigneeFilter | None = None
    # The search box, parsed (`parse_search`): text terms and user terms are ANDed with each other and the rest.
    terms: tuple[TextTerm, ...] = ()
    users: tuple[str, ...] = ()
    properties: tuple[PropertyTerm, ...] = ()
    # Set by the list itself (never parsed): the issues a `user:` term's distinct ids were seen in.
    issue_ids: tuple[uuid.UUID, ...] | None = None
    first_seen_after: dt.datetime | None = None
    first_seen_before: dt.datetime | None = None
    last_seen_after: dt.datetime | None = None
    last_seen_before: dt.datetime | None = None
    # Activity overlapping a window: seen at or after date_from and first seen at or before date_to.
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    order_by: str = DEFAULT_ORDER
    descending: bool = True
    # (key, values) of issue tags (`faultline.issues.tags`): release, environment, level; values are ORed.
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()


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
    match = _RELATIVE.fullmatch(text)
    try:
        if match:
            amount, unit = int(match.group(1)), match.group(2)
            if unit in _RELATIVE_UNITS:
                return now - dt.timedelta(**{_RELATIVE_UNITS[unit]: amount})
            return _months_back(now, amount * (12 if unit == "y" else 1))
        if len(text) > 64:
            raise ValueError
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        # Year 1 east of UTC or year 9999 west of it has no UTC equivalent (OverflowError).
        return value.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise FilterError(
            attr, "Datetime has wrong format. Use ISO 8601 or a relative value such as -7d.", "invalid"
        ) from None


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
        kind, rest = ("user" if parse_ascii_int(text) is not None else "role"), text
    user_id = parse_serial_id(rest) if kind == "user" else None
    if user_id is not None:
        return AssigneeFilter(kind="user", user_id=user_id)
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
        parts = parse_search(text)
        values.update(terms=parts.terms, users=parts.users, properties=parts.properties)
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
    found_tags = []
    for key in TAG_PARAMS:
        if raw := params.get(key):
            # Cleaned as stored tags are (NUL, lone surrogates → U+FFFD): PostgreSQL refuses NUL in a parameter.
            values_ = (clean_text(v.strip()[:200]) for v in raw.split(",") if v.strip())
            picked = tuple(dict.fromkeys(values_))[:TAG_VALUES_MAX]
            if picked:
                found_tags.append((key, picked))
    if found_tags:
        values["tags"] = tuple(found_tags)
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


def search_query(text: str, **filters: object) -> IssueQuery:
    """An IssueQuery for a search box entry plus other fields (scripts and tests)."""
    parts = parse_search(text)
    return IssueQuery(terms=parts.terms, users=parts.users, properties=parts.properties, **filters)  # type: ignore[arg-type]
