"""The property-filter evaluator against the semantics of spec §3.3, table-driven.

Every operator is checked against four situations: an array-valued exception property (exists-an-element
semantics), a scalar property, a missing property (NULL), and an empty value list. The matrix test fails if an
operator is added to the evaluator without a row here.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultline.rules import filters
from faultline.rules.client_rules import client_safe_rule
from faultline.rules.filters import FilterError, compile_filters
from tests.rules.sdk_semantics import sdk_drops

EVENT: dict[str, Any] = {
    "$exception_types": ["TypeError", "ValueError"],
    "$exception_values": ["Cannot read 'x' of undefined", "100% broken_thing"],
    "lib": "posthog-js",
    "release": "1.4.2",
    "count": 7,
    "handled": True,
    "when": "2026-01-02T03:04:05Z",
}

ERROR = "error"  # the filter does not compile

# operator: (array value, expected), (scalar key, scalar value, expected), (missing value, expected), empty list
MATRIX: dict[str, tuple[tuple[Any, Any], tuple[str, Any, Any], tuple[Any, Any], Any]] = {
    "exact": (("TypeError", True), ("release", "1.4.2", True), ("x", False), True),
    "is_not": (("TypeError", True), ("release", "1.4.2", False), ("x", True), True),
    "icontains": (("typeerr", True), ("lib", "POSTHOG", True), ("x", False), False),
    "not_icontains": (("typeerror", True), ("lib", "posthog", False), ("x", True), True),
    "regex": (("^Val", True), ("lib", "^post.*js$", True), (".*", False), True),
    "not_regex": (("^Type", True), ("lib", "^post", False), ("x", True), True),
    "is_set": ((None, True), ("lib", None, True), (None, False), True),
    "is_not_set": ((None, False), ("lib", None, False), (None, True), True),
    "gt": ((5, False), ("count", 5, True), (5, False), True),
    "gte": ((5, False), ("count", 7, True), (5, False), True),
    "lt": ((5, False), ("count", 7, False), (5, False), True),
    "lte": ((5, False), ("count", 7, True), (5, False), True),
    "min": ((5, False), ("count", 8, False), (5, False), True),
    "max": ((5, False), ("count", 8, True), (5, False), True),
    "in": ((["TypeError", "X"], True), ("release", ["1.4.2", "2"], True), (["x", "y"], False), True),
    "not_in": ((["TypeError", "X"], True), ("release", ["1.4.2", "2"], False), (["x", "y"], True), True),
    "icontains_multi": ((["zzz", "VALUE"], True), ("lib", ["JS", "zz"], True), (["x"], False), True),
    "not_icontains_multi": ((["type"], True), ("lib", ["js"], False), (["x"], False), True),
    "between": (([1, 10], False), ("count", [5, 10], True), ([1, 10], False), ERROR),
    "not_between": (([1, 10], False), ("count", [1, 5], True), ([1, 10], False), ERROR),
    "is_date_exact": (
        ("2026-01-02T03:04:05Z", False),
        ("when", "2026-01-02T03:04:05+00:00", True),
        ("2026-01-02", False),
        True,
    ),
    "is_date_before": (("2027-01-01", False), ("when", "2027-01-01", True), ("2027-01-01", False), True),
    "is_date_after": (("2027-01-01", False), ("when", "2027-01-01", False), ("2027-01-01", False), True),
    "is_cleaned_path_exact": (("TypeError", True), ("lib", "posthog-js", True), ("x", False), True),
    "semver_eq": (("1.4.2", False), ("release", "1.4.2", True), ("1.4.2", False), True),
    "semver_neq": (("1.4.2", True), ("release", "1.4.3", True), ("1.4.2", True), True),
    "semver_gt": (("1.0.0", False), ("release", "1.4.1", True), ("1.0.0", False), True),
    "semver_gte": (("1.0.0", False), ("release", "1.4.2", True), ("1.0.0", False), True),
    "semver_lt": (("9.0.0", False), ("release", "1.5", True), ("9.0.0", False), True),
    "semver_lte": (("9.0.0", False), ("release", "1.4.1", False), ("9.0.0", False), True),
    "semver_tilde": (("1.4.0", False), ("release", "1.4.0", True), ("1.4.0", False), True),
    "semver_caret": (("1.0.0", False), ("release", "1.0.0", True), ("1.0.0", False), True),
    "semver_wildcard": (("1.4.*", False), ("release", "1.4.*", True), ("1.*", False), True),
}


def leaf(key: str, operator: str, value: Any, type_: str = "event") -> dict[str, Any]:
    node: dict[str, Any] = {"key": key, "type": type_, "operator": operator}
    if value is not None:
        node["value"] = value
    return node


def group(kind: str, *values: Any) -> dict[str, Any]:
    return {"type": kind, "values": list(values)}


def evaluate(node: dict[str, Any], props: dict[str, Any] | None = None, issue: dict[str, Any] | None = None) -> Any:
    try:
        predicate = compile_filters(group("AND", node))
    except FilterError:
        return ERROR
    return predicate(EVENT if props is None else props, issue)


def test_matrix_covers_every_operator() -> None:
    assert set(MATRIX) == set(filters.OPERATORS)


@pytest.mark.parametrize("operator", sorted(MATRIX))
@pytest.mark.parametrize("situation", ["array", "scalar", "missing", "empty list"])
def test_operator_matrix(operator: str, situation: str) -> None:
    (array_value, array_expected), (scalar_key, scalar_value, scalar_expected), missing, empty = MATRIX[operator]
    if situation == "array":
        node, expected = leaf("$exception_types", operator, array_value), array_expected
    elif situation == "scalar":
        node, expected = leaf(scalar_key, operator, scalar_value), scalar_expected
    elif situation == "missing":
        node, expected = leaf("not_there", operator, missing[0]), missing[1]
    else:
        node, expected = leaf("$exception_types", operator, []), empty
    assert evaluate(node) == expected


def test_missing_array_property_matches_nothing_but_negations_too() -> None:
    """A missing exception array is an empty array: "exists an element" is false even for negative operators."""
    for operator in ("exact", "is_not", "icontains", "not_icontains", "regex", "not_regex", "is_set"):
        assert evaluate(leaf("$exception_sources", operator, "x")) is False, operator


@pytest.mark.parametrize(
    ("operator", "values", "expected"),
    [
        # Several values: exact/is_not become IN / NOT IN over the elements.
        ("exact", ["SyntaxError", "ValueError"], True),
        ("exact", ["SyntaxError", "RangeError"], False),
        ("is_not", ["TypeError", "ValueError"], False),  # no element outside the list
        ("is_not", ["TypeError"], True),  # ValueError differs
        # regex: one leaf per pattern, OR-ed; not_regex: AND-ed (each pattern must miss some element).
        ("regex", ["^Syntax", "^Value"], True),
        ("not_regex", ["^Type", "^Value"], True),
        ("not_regex", ["Error$", "^Type"], False),
        # icontains with several values: plain substrings, no wildcards.
        ("icontains", ["zz", "alue"], True),
        ("icontains", ["zz", "v_lue"], False),
        ("not_icontains", ["type", "value"], False),
        ("not_icontains", ["type", "zz"], True),
    ],
)
def test_several_values_on_arrays(operator: str, values: list[str], expected: bool) -> None:
    assert evaluate(leaf("$exception_types", operator, values)) is expected


def test_single_icontains_is_ilike_with_wildcards() -> None:
    assert evaluate(leaf("$exception_values", "icontains", "CANNOT%undefined")) is True
    assert evaluate(leaf("$exception_values", "icontains", "100_ broken")) is True  # `_` is any one character
    assert evaluate(leaf("$exception_values", "icontains", "100\\% broken\\_thing")) is True  # escaped literals
    assert evaluate(leaf("$exception_values", "icontains", "broken\\_Xhing")) is False
    assert evaluate(leaf("lib", "icontains", "P_STHOG")) is True
    assert evaluate(leaf("lib", "not_icontains", "p%js")) is False


def test_scalar_coercions() -> None:
    assert evaluate(leaf("handled", "exact", "true")) is True
    assert evaluate(leaf("handled", "exact", True)) is True
    assert evaluate(leaf("handled", "is_not", "false")) is True
    assert evaluate(leaf("count", "exact", "7")) is True
    assert evaluate(leaf("count", "exact", 7.0)) is True
    assert evaluate(leaf("count", "gt", "6.5")) is True
    assert evaluate(leaf("lib", "gt", 3)) is False  # not a number: numeric comparisons are false
    assert evaluate(leaf("lib", "regex", "^posthog-js$")) is True
    assert evaluate(leaf("lib", "exact", "PostHog-JS")) is False  # exact is case-sensitive


def test_string_encoded_exception_arrays_are_decoded() -> None:
    props = {"$exception_types": '["TypeError"]'}
    assert evaluate(leaf("$exception_types", "exact", "TypeError"), props) is True
    assert evaluate(leaf("$exception_types", "exact", "TypeError"), {"$exception_types": "TypeError"}) is False


def test_nested_groups_and_empty_entries() -> None:
    type_error = leaf("$exception_types", "exact", "TypeError")
    syntax_error = leaf("$exception_types", "exact", "SyntaxError")
    js = leaf("lib", "exact", "posthog-js")
    assert compile_filters(group("AND", group("OR", syntax_error, type_error), js))(EVENT, None) is True
    assert compile_filters(group("AND", group("OR", syntax_error), js))(EVENT, None) is False
    assert compile_filters(group("OR", group("AND", syntax_error, js), group("AND", type_error)))(EVENT, None) is True
    assert compile_filters(group("AND", group("AND", group("AND", type_error))))(EVENT, None) is True
    assert compile_filters(group("AND"))(EVENT, None) is True  # no condition = match all
    assert compile_filters(group("OR", {"type": "empty"}, syntax_error))(EVENT, None) is True  # empty = constant 1
    assert compile_filters(group("AND", {"type": "empty"}, syntax_error))(EVENT, None) is False


def test_issue_leaves_read_the_issue() -> None:
    node = leaf("status", "exact", "active", "error_tracking_issue")
    assert evaluate(node, EVENT, {"status": "active", "name": "TypeError"}) is True
    assert evaluate(node, EVENT, {"status": "resolved"}) is False
    assert evaluate(node, EVENT, None) is False


@pytest.mark.parametrize(
    "bad",
    [
        group("XOR", leaf("lib", "exact", "x")),
        group("AND", "not an object"),
        group("AND", {"key": "lib", "operator": "bogus", "value": "x"}),
        group("AND", {"key": "", "value": "x"}),
        group("AND", {"key": "lib", "value": {"nested": "object"}}),
        group("AND", {"key": "lib", "value": "x", "surprise": 1}),
        {"type": "AND", "values": "not a list"},
        {"type": "AND", "values": [], "extra": 1},
        {"values": [leaf("lib", "exact", "x")]},
    ],
)
def test_malformed_filters_are_payload_errors(bad: Any) -> None:
    with pytest.raises(FilterError) as info:
        compile_filters(bad)
    assert info.value.kind == "payload"


@pytest.mark.parametrize(
    "bad",
    [
        leaf("lib", "regex", "("),
        leaf("lib", "regex", "(?<=look)behind"),  # RE2 has no lookbehind, like ClickHouse
        leaf("release", "semver_tilde", "not-a-version"),
        leaf("count", "between", [10, 1]),
        leaf("count", "between", ["a", "b"]),
        leaf("lib", "exact", "x", "person"),
    ],
)
def test_uncompilable_filters_are_compile_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(FilterError) as info:
        compile_filters(group("AND", bad))
    assert info.value.kind == "compile"


def test_size_limits() -> None:
    many = group("AND", *[leaf("lib", "exact", str(i)) for i in range(filters.MAX_LEAVES + 1)])
    with pytest.raises(FilterError):
        compile_filters(many)
    deep: dict[str, Any] = leaf("lib", "exact", "x")
    for _ in range(filters.MAX_DEPTH + 2):
        deep = group("AND", deep)
    with pytest.raises(FilterError):
        compile_filters(deep)


def test_pathological_regex_cannot_stall_the_worker() -> None:
    """`(a+)+$` backtracks exponentially in Python's `re`; on RE2 it is linear. Bounded by a generous deadline."""
    predicate = compile_filters(group("AND", leaf("$exception_values", "regex", "(a+)+$")))
    hostile = {"$exception_values": ["a" * 50_000 + "!"] * 20}
    result: list[bool] = []
    worker = threading.Thread(target=lambda: result.append(predicate(hostile, None)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert result == [False], "regex evaluation did not finish"


def test_has_filter_values() -> None:
    assert filters.has_filter_values(group("AND")) is False
    assert filters.has_filter_values(group("AND", group("OR"))) is False
    assert filters.has_filter_values(group("AND", {"type": "empty"})) is False
    assert filters.has_filter_values(group("AND", group("OR", leaf("lib", "exact", "x")))) is True
    assert filters.has_filter_values(group("AND", "junk")) is True  # non-dicts count, so validation sees them


# ------------------------------------------------------------------------------------------ server vs SDK


@pytest.mark.parametrize(
    ("operator", "value", "server", "sdk"),
    [
        # Negative operators: the server means "some element", the SDK "every element".
        ("is_not", "TypeError", True, False),
        ("not_icontains", "type", True, False),
        ("is_not", "SyntaxError", True, True),
        # Positive operators agree.
        ("exact", "TypeError", True, True),
        ("icontains", "valueerr", True, True),
    ],
)
def test_negative_operators_differ_between_server_and_sdk(operator: str, value: str, server: bool, sdk: bool) -> None:
    rule = group("AND", leaf("$exception_types", operator, value))
    exceptions = [{"type": "TypeError", "value": "a"}, {"type": "ValueError", "value": "b"}]
    props = {"$exception_types": [e["type"] for e in exceptions], "$exception_values": [e["value"] for e in exceptions]}
    assert compile_filters(rule)(props, None) is server
    assert sdk_drops(rule, exceptions) is sdk


_words = st.sampled_from(["TypeError", "ValueError", "Type", "error", "100%", "a_b", "aXb", "x", "Éclair"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["AND", "OR"]),
    conditions=st.lists(
        st.tuples(
            st.sampled_from(["$exception_types", "$exception_values"]),
            st.sampled_from(["exact", "is_not", "icontains", "not_icontains", "regex"]),
            st.one_of(_words, st.lists(_words, min_size=1, max_size=3)),
        ),
        min_size=1,
        max_size=3,
    ),
    exceptions=st.lists(st.tuples(_words, _words), min_size=1, max_size=3),
)
def test_sdk_never_drops_what_the_server_keeps(kind: str, conditions: list[Any], exceptions: list[Any]) -> None:
    """Every shipped rule: whenever posthog-js would drop an exception, the server would drop it too."""
    rule = group(kind, *[leaf(key, op, value) for key, op, value in conditions])
    shipped = client_safe_rule(rule, 1.0)
    if shipped is None:
        return
    assert all(entry["operator"] != "regex" for entry in shipped["values"])
    exception_list = [{"type": t, "value": v} for t, v in exceptions]
    props = {"$exception_types": [t for t, _ in exceptions], "$exception_values": [v for _, v in exceptions]}
    if sdk_drops(shipped, exception_list):
        assert compile_filters(rule)(props, None) is True


def test_client_safe_selection() -> None:
    types = leaf("$exception_types", "exact", ["TypeError"])
    assert client_safe_rule(group("OR", types), 1.0) == group("OR", types)
    assert client_safe_rule(group("OR", types), 0.5) is None  # sampled rules stay on the server
    assert client_safe_rule(group("OR", types), 1.0, {"message": "x"}) is None  # disabled
    assert client_safe_rule(group("AND"), 1.0) is None  # match-all
    assert client_safe_rule(group("AND", group("OR", types)), 1.0) is None  # nested
    assert client_safe_rule(group("AND", leaf("$exception_sources", "exact", "a.js")), 1.0) is None
    assert client_safe_rule(group("AND", leaf("$exception_types", "regex", "^T")), 1.0) is None
    assert client_safe_rule(group("AND", leaf("$exception_types", "exact", [])), 1.0) is None
    assert client_safe_rule(group("AND", leaf("$exception_values", "not_icontains", "50%")), 1.0) is None
    assert client_safe_rule(group("AND", leaf("$exception_values", "icontains", "50%")), 1.0) is not None


def test_hostile_numbers_in_event_properties_match_nothing_instead_of_raising() -> None:
    """Property values come from SDKs (a public token): a huge relative date or version must not raise in the
    digest (`int()` of 5 000 digits and `timedelta` past year 1 both do)."""
    for value in ("-999999999y", "-99999999999999999999d", "9" * 5000 + "d"):
        assert evaluate(leaf("when", "is_date_before", "2027-01-01"), {"when": value}) is False, value
    for value in ("9" * 5000, "v" + "1." * 3000 + "1", "١.٢.٣"):
        assert evaluate(leaf("release", "semver_gt", "1.0.0"), {"release": value}) in (True, False), value[:20]
    assert evaluate(leaf("release", "semver_gt", "1.0.0"), {"release": "١.٢.٣"}) is False  # not ASCII digits
    assert evaluate(leaf("when", "is_date_before", "-999999999y")) == ERROR  # a rule value that cannot be a date
