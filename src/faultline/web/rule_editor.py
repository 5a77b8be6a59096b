"""The rule filter editor: rows of key / operator / value joined by AND or OR, to and from PostHog's filter JSON.

Rules store PostHog's `PropertyGroupFilterValue` (`{"type": "AND"|"OR", "values": [...]}`), which can nest groups
arbitrarily. The editor covers what people write by hand — one group of event-property conditions — and falls back
to editing the JSON itself for anything deeper, so no stored rule is ever silently flattened or rewritten.
Validation of the result is the REST API's (rule schemas + `rules.service.check_compiles`); this module only checks
what the rows alone can tell (a value without a key, an unknown operator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import FormData

from faultline.rules.filters import OPERATORS
from faultline.web import forms

# (operator, label) in the order the select shows them; the rest of PostHog's operators stay reachable via JSON.
OPERATOR_CHOICES: tuple[tuple[str, str], ...] = (
    ("exact", "equals"),
    ("is_not", "does not equal"),
    ("icontains", "contains"),
    ("not_icontains", "does not contain"),
    ("regex", "matches regex"),
    ("not_regex", "does not match regex"),
    ("is_set", "is set"),
    ("is_not_set", "is not set"),
    ("gt", "greater than"),
    ("lt", "less than"),
    ("semver_gte", "version ≥"),
    ("semver_lt", "version <"),
)
CHOSEN = {op for op, _ in OPERATOR_CHOICES}
NO_VALUE = frozenset({"is_set", "is_not_set"})
LIST_VALUED = frozenset({"exact", "is_not", "in", "not_in"})
KEY_SUGGESTIONS = (
    "$exception_types",
    "$exception_values",
    "$exception_sources",
    "$exception_functions",
    "$exception_handled",
    "$exception_level",
    "$lib",
    "$lib_version",
    "$current_url",
    "$host",
    "$pathname",
    "$browser",
    "$os",
    "$app_version",
)
MAX_ROWS = 50
BLANK_ROWS = 1  # empty rows offered under the filled ones (JavaScript adds more)


@dataclass
class Row:
    key: str = ""
    operator: str = "exact"
    value: str = ""


@dataclass
class EditorState:
    match: str = "AND"
    rows: list[Row] = field(default_factory=list)
    # Set when the filters cannot be shown as rows (nested groups, non-event leaves): the JSON is edited instead.
    json_text: str | None = None

    @property
    def shown_rows(self) -> list[Row]:
        return self.rows + [Row() for _ in range(BLANK_ROWS)]


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], str | int | float) and not isinstance(value[0], bool):
            return str(value[0])
        return orjson.dumps(value).decode()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaves(group: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]] | None:
    """(match, leaves) when the group is one level of event-property leaves (possibly wrapped in single groups)."""
    match = group.get("type") if group.get("type") in ("AND", "OR") else "AND"
    values = group.get("values")
    if not isinstance(values, list):
        return None
    if len(values) == 1 and isinstance(values[0], Mapping) and "values" in values[0]:
        return _leaves(values[0])
    leaves = []
    for item in values:
        if not isinstance(item, Mapping) or "values" in item:
            return None
        if item.get("type", "event") not in ("event", "event_metadata") or item.get("operator", "exact") not in CHOSEN:
            return None
        leaves.append(item)
    return str(match), leaves


def from_filters(filters: Any) -> EditorState:
    if not isinstance(filters, Mapping):
        return EditorState()
    found = _leaves(filters)
    if found is None:
        return EditorState(json_text=orjson.dumps(filters, option=orjson.OPT_INDENT_2).decode())
    match, leaves = found
    rows = [
        Row(
            key=str(leaf.get("key") or ""),
            operator=str(leaf.get("operator") or "exact"),
            value=_value_text(leaf.get("value")),
        )
        for leaf in leaves
    ]
    return EditorState(match=match, rows=rows)


def _leaf_value(operator: str, text: str) -> Any:
    if operator in NO_VALUE:
        return operator
    if text.startswith("["):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    if operator in LIST_VALUED:
        return [text]
    return text


def from_form(form: FormData) -> tuple[EditorState, dict[str, Any] | None, dict[str, str]]:
    """(what to show again, the filters JSON or None when refused, errors keyed `filters` / `row-<n>`)."""
    errors: dict[str, str] = {}
    json_text = forms.text(form, "filters_json", 70_000)
    if forms.text(form, "editor", 10) == "json":
        state = EditorState(json_text=json_text)
        try:
            parsed = orjson.loads(json_text) if json_text.strip() else {"type": "AND", "values": []}
        except orjson.JSONDecodeError as exc:
            errors["filters"] = f"Not valid JSON: {exc}"
            return state, None, errors
        if not isinstance(parsed, dict):
            errors["filters"] = 'Filters must be a JSON object like {"type": "AND", "values": [...]}.'
            return state, None, errors
        return state, parsed, errors

    match = forms.text(form, "match", 5)
    match = match if match in ("AND", "OR") else "AND"
    keys = forms.texts(form, "key", limit=400, count=MAX_ROWS + 10)
    operators = forms.texts(form, "operator", limit=40, count=MAX_ROWS + 10)
    values = forms.texts(form, "value", limit=10_000, count=MAX_ROWS + 10)
    rows: list[Row] = []
    leaves: list[dict[str, Any]] = []
    for index in range(max(len(keys), len(operators), len(values))):
        key = (keys[index] if index < len(keys) else "").strip()
        operator = operators[index] if index < len(operators) else "exact"
        value = values[index] if index < len(values) else ""
        if not key and not value.strip():
            continue  # an untouched blank row
        row_number = len(rows)
        rows.append(Row(key=key, operator=operator, value=value))
        if len(rows) > MAX_ROWS:
            errors["filters"] = f"At most {MAX_ROWS} conditions per rule."
            break
        if not key:
            errors[f"row-{row_number}"] = "Name the property this condition tests."
        elif operator not in OPERATORS:
            errors[f"row-{row_number}"] = "Choose an operator from the list."
        elif operator not in NO_VALUE and not value.strip():
            errors[f"row-{row_number}"] = "Enter a value (or choose “is set” / “is not set”)."
        else:
            leaves.append({"key": key, "type": "event", "operator": operator, "value": _leaf_value(operator, value)})
    state = EditorState(match=match, rows=rows)
    if errors:
        return state, None, errors
    return state, {"type": match, "values": leaves}, errors


def describe(filters: Any) -> str:
    """One line for the rule list: "$exception_types equals TypeError AND $lib equals web"."""
    state = from_filters(filters)
    if state.json_text is not None:
        return "custom filter (nested groups)"
    if not state.rows:
        return "every event"
    labels = dict(OPERATOR_CHOICES)
    parts = []
    for row in state.rows:
        label = labels.get(row.operator, row.operator)
        parts.append(f"{row.key} {label}" + ("" if row.operator in NO_VALUE else f" {row.value}"))
    return f" {state.match} ".join(parts)
