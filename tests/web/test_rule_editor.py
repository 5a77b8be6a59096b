"""The rule filter editor: rows ↔ PostHog filter JSON, refusals per row, and the one-line rule summaries."""

from __future__ import annotations

from starlette.datastructures import FormData

from faultline.rules.filters import compile_filters
from faultline.web import rule_editor


def form(**fields: object) -> FormData:
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, str(item)))
    return FormData(pairs)


def test_rows_become_a_filter_group_that_compiles() -> None:
    state, filters, errors = rule_editor.from_form(
        form(
            match="OR",
            key=["$exception_types", "$current_url", "$browser", ""],
            operator=["exact", "icontains", "is_set", "exact"],
            value=["TypeError", "/checkout", "", ""],
        )
    )
    assert errors == {}
    assert filters == {
        "type": "OR",
        "values": [
            {"key": "$exception_types", "type": "event", "operator": "exact", "value": ["TypeError"]},
            {"key": "$current_url", "type": "event", "operator": "icontains", "value": "/checkout"},
            {"key": "$browser", "type": "event", "operator": "is_set", "value": "is_set"},
        ],
    }
    predicate = compile_filters(filters)
    assert predicate({"$exception_types": ["TypeError"]}, None)
    assert not predicate({"$exception_types": ["KeyError"]}, None)
    assert len(state.rows) == 3  # the untouched blank row is dropped


def test_json_lists_give_several_values() -> None:
    _state, filters, errors = rule_editor.from_form(
        form(key=["$exception_types"], operator=["exact"], value=['["TypeError", "RangeError"]'])
    )
    assert errors == {} and filters is not None
    assert filters["values"][0]["value"] == ["TypeError", "RangeError"]


def test_row_problems_are_reported_per_row() -> None:
    state, filters, errors = rule_editor.from_form(
        form(key=["", "$lib", "$os"], operator=["exact", "exact", "sorcery"], value=["orphan", "", "x"])
    )
    assert filters is None
    assert errors == {
        "row-0": "Name the property this condition tests.",
        "row-1": "Enter a value (or choose “is set” / “is not set”).",
        "row-2": "Choose an operator from the list.",
    }
    assert [row.value for row in state.rows] == ["orphan", "", "x"]  # what was typed is shown again


def test_round_trip_and_json_fallback_for_nested_groups() -> None:
    flat = {
        "type": "AND",
        "values": [
            {
                "type": "AND",
                "values": [{"key": "$lib", "type": "event", "operator": "exact", "value": ["web", "posthog-node"]}],
            }
        ],
    }
    state = rule_editor.from_filters(flat)
    assert state.json_text is None and state.match == "AND"
    assert [(r.key, r.operator, r.value) for r in state.rows] == [("$lib", "exact", '["web","posthog-node"]')]
    nested = {
        "type": "OR",
        "values": [
            {"type": "AND", "values": [{"key": "a", "type": "event", "operator": "exact", "value": ["1"]}]},
            {"type": "AND", "values": [{"key": "b", "type": "event", "operator": "exact", "value": ["2"]}]},
        ],
    }
    state = rule_editor.from_filters(nested)
    assert state.json_text is not None and '"OR"' in state.json_text
    _state, filters, errors = rule_editor.from_form(form(editor="json", filters_json=state.json_text))
    assert errors == {} and filters == nested
    _state, filters, errors = rule_editor.from_form(form(editor="json", filters_json="{nope"))
    assert filters is None and errors["filters"].startswith("Not valid JSON")
    _state, filters, errors = rule_editor.from_form(form(editor="json", filters_json="[1]"))
    assert filters is None and "JSON object" in errors["filters"]


def test_summaries() -> None:
    assert rule_editor.describe({"type": "AND", "values": []}) == "every event"
    assert (
        rule_editor.describe(
            {
                "type": "OR",
                "values": [
                    {"key": "$lib", "type": "event", "operator": "exact", "value": ["web"]},
                    {"key": "$os", "type": "event", "operator": "is_not_set", "value": "is_not_set"},
                ],
            }
        )
        == "$lib equals web OR $os is not set"
    )
    assert rule_editor.describe({"type": "AND", "values": [{"type": "OR", "values": []}, {"values": []}]}) == (
        "custom filter (nested groups)"
    )
    assert rule_editor.describe("garbage") == "every event"


def test_too_many_rows() -> None:
    count = rule_editor.MAX_ROWS + 1
    _state, filters, errors = rule_editor.from_form(
        form(key=[f"k{i}" for i in range(count)], operator=["exact"] * count, value=["v"] * count)
    )
    assert filters is None and errors["filters"] == f"At most {rule_editor.MAX_ROWS} conditions per rule."
