"""PostHog property-group filters (`PropertyGroupFilterValue`) compiled once into plain Python predicates.

PostHog compiles a rule's filters to HogQL and then to HogVM bytecode; cymbal runs that bytecode per event. We
interpret the same JSON directly, reproducing what the compiled expression means (spec §3.3):

* the four array-valued exception properties (`$exception_types/_values/_sources/_functions`) match when *some
  element* passes the per-element test — so `is_not` means "some element differs", not "none equals";
* every other key is a scalar compared like HogQL compares a JSON property: missing means NULL, positive operators
  are false on NULL and negative ones (`is_not`, `not_icontains`, `not_regex`, `not_in`) true;
* several values: `exact`/`is_not`/`in`/`not_in` become IN / NOT IN, `icontains`-family a case-insensitive
  multi-substring search, anything else one leaf per value OR-ed (AND-ed for `not_regex`); an empty value list
  makes the leaf constant true except for `icontains`/`not_icontains` (HogQL then searches for the text ``[]``);
* a single `icontains` value is an ILIKE pattern, so `%` and `_` inside it are wildcards (HogQL never escapes them).

Regexes run on RE2 — the engine ClickHouse's `match()` uses — whose matching time is linear in the input, so a
pathological pattern such as ``(a+)+$`` cannot stall the digest worker. Every check that can fail is done at
compile time (`FilterError`); evaluating a compiled predicate never raises for any JSON-shaped input.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import orjson
import re2

from faultline.ids import parse_ascii_int

ARRAY_KEYS = frozenset({"$exception_types", "$exception_values", "$exception_sources", "$exception_functions"})

GROUP_TYPES = ("AND", "OR")

OPERATORS = frozenset(
    {
        "exact",
        "is_not",
        "icontains",
        "not_icontains",
        "regex",
        "not_regex",
        "gt",
        "gte",
        "lt",
        "lte",
        "min",
        "max",
        "is_set",
        "is_not_set",
        "is_date_exact",
        "is_date_before",
        "is_date_after",
        "between",
        "not_between",
        "in",
        "not_in",
        "icontains_multi",
        "not_icontains_multi",
        "is_cleaned_path_exact",
        "semver_eq",
        "semver_neq",
        "semver_gt",
        "semver_gte",
        "semver_lt",
        "semver_lte",
        "semver_tilde",
        "semver_caret",
        "semver_wildcard",
    }
)

# Leaf types we can evaluate: event properties (and event metadata, which cymbal exposes the same way) and the
# issue an assignment rule is deciding about. Person, cohort, HogQL… need data the digest worker does not have.
EVENT_LEAF_TYPES = frozenset({"event", "event_metadata"})
ISSUE_LEAF_TYPES = frozenset({"error_tracking_issue"})
LEAF_FIELDS = frozenset({"key", "type", "operator", "value", "label"})

# Bounds that keep one rule's evaluation cost and storage small whatever a client sends.
MAX_DEPTH = 8
MAX_LEAVES = 200
MAX_VALUES_PER_LEAF = 1000
MAX_STRING = 10_000
REGEX_MAX_MEM = 8 << 20

Properties = Mapping[str, Any]
Predicate = Callable[[Properties, Mapping[str, Any] | None], bool]
_Test = Callable[[Any], bool]


class FilterError(ValueError):
    """Filters that cannot be evaluated.

    `kind` tells the API how to report it: "payload" is a shape PostHog's schema rejects ("Invalid filters
    payload."), "compile" a well-formed filter whose operator/value combination cannot be compiled (PostHog reports
    the compiler's message as a non-field error).
    """

    def __init__(self, message: str, kind: Literal["payload", "compile"] = "payload") -> None:
        super().__init__(message)
        self.kind = kind


# --------------------------------------------------------------------------------------------------------------
# Structure


def has_filter_values(filters: Any) -> bool:
    """PostHog's "has filter values": some entry, at any depth, is a leaf (has a key) or is not even a dict."""
    if not isinstance(filters, Mapping):
        return False
    values = filters.get("values")
    if not isinstance(values, list):
        return False
    for entry in values:
        if not isinstance(entry, Mapping):
            return True
        if "key" in entry:
            return True
        if "values" in entry and has_filter_values(entry):
            return True
    return False


def _is_group(node: Mapping[str, Any]) -> bool:
    return "values" in node and "key" not in node


def _check_scalar(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return not isinstance(value, str) or len(value) <= MAX_STRING
    return isinstance(value, float) and math.isfinite(value)


def _check_leaf(node: Mapping[str, Any]) -> None:
    if set(node) - LEAF_FIELDS:
        raise FilterError("unexpected field in filter: " + ", ".join(sorted(set(node) - LEAF_FIELDS)))
    key = node.get("key")
    if not isinstance(key, str) or not key or len(key) > 400:
        raise FilterError("filter key must be a non-empty string")
    leaf_type = node.get("type", "event")
    if not isinstance(leaf_type, str):
        raise FilterError("filter type must be a string")
    if leaf_type not in EVENT_LEAF_TYPES | ISSUE_LEAF_TYPES:
        raise FilterError(f'Filters of type "{leaf_type}" are not supported in error tracking rules.', "compile")
    operator = node.get("operator")
    if operator is not None and operator not in OPERATORS:
        raise FilterError(f"unknown operator {operator!r}")
    if "label" in node and node["label"] is not None and not isinstance(node["label"], str):
        raise FilterError("filter label must be a string")
    value = node.get("value")
    if isinstance(value, list):
        if len(value) > MAX_VALUES_PER_LEAF:
            raise FilterError(f"a filter may list at most {MAX_VALUES_PER_LEAF} values")
        if not all(_check_scalar(v) and v is not None for v in value):
            raise FilterError("filter values must be strings, numbers or booleans")
    elif not _check_scalar(value):
        raise FilterError("filter value must be a string, number, boolean or a list of them")


def validate(filters: Any) -> None:
    """Raise `FilterError` unless `filters` is a PropertyGroupFilterValue we can evaluate (compiles it once)."""
    compile_filters(filters)


# --------------------------------------------------------------------------------------------------------------
# Value coercions (what HogQL's JSON property access produces)


def as_text(value: Any) -> str | None:
    """The string form a JSON property has when HogQL compares it to a string."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return str(value)


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_string_list(value: Any) -> list[str]:
    """An exception array property as ClickHouse's `JSONExtract(…, 'Array(String)')` sees it."""
    if value is None:
        return []
    if type(value) is list and all(type(item) is str for item in value):
        return value  # the usual case (the pipeline computed it): no copy
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return []
    if isinstance(value, list | tuple):
        return [text for text in map(as_text, value) if text is not None]
    return []


# ASCII digits, at most 18 per part: event properties are untrusted, and `int()` of a 5 000-digit run raises.
_SEMVER = re.compile(r"\s*v?([0-9]{1,18}(?:\.[0-9]{1,18})*)")
_RELATIVE_DATE = re.compile(r"-?([0-9]{1,9})([hdwmyHDWMY])")


def semver_key(value: Any) -> tuple[int, ...] | None:
    """Sortable version: numeric dotted prefix, pre-release suffix ignored, padded so 1.2 == 1.2.0."""
    text = as_text(value)
    if text is None:
        return None
    match = _SEMVER.match(text)
    if not match:
        return None
    parts = [int(p) for p in match.group(1).split(".")[:6]]
    return tuple(parts + [0] * (6 - len(parts)))


def _parse_date(value: Any) -> dt.datetime | None:
    text = as_text(value)
    if not text:
        return None
    relative = _RELATIVE_DATE.fullmatch(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        hours = {"h": 1, "d": 24, "w": 24 * 7, "m": 24 * 30, "y": 24 * 365}[unit.lower()]
        try:
            return dt.datetime.now(dt.UTC) - dt.timedelta(hours=amount * hours)
        except OverflowError:  # before year 1: no event date can compare with it
            return None
    try:
        parsed = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------------------------------------------
# Matchers


def compile_regex(pattern: str) -> Any:
    """RE2 pattern (unanchored search), or FilterError with RE2's message."""
    options = re2.Options()
    options.log_errors = False
    options.max_mem = REGEX_MAX_MEM
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        message = exc.args[0] if exc.args else exc
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise FilterError(f"Invalid regular expression {pattern!r}: {message}", "compile") from None


def ilike_contains(needle: str) -> Callable[[str], bool]:
    """`s ILIKE '%needle%'`: case-insensitive, `%` any run, `_` any one character, backslash escapes."""
    if not any(c in needle for c in "%_\\"):
        lowered = needle.lower()
        return lambda s: lowered in s.lower()
    parts: list[str] = []
    i = 0
    while i < len(needle):
        char = needle[i]
        if char == "\\" and i + 1 < len(needle):
            parts.append(re2.escape(needle[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re2.escape(char))
        i += 1
    regex = compile_regex("(?is)" + "".join(parts))
    return lambda s: regex.search(s) is not None


def _multi_contains(needles: Sequence[Any]) -> Callable[[str], bool]:
    """ClickHouse multiSearchAnyCaseInsensitive: plain substrings, no wildcards."""
    lowered = tuple(str(as_text(n)).lower() for n in needles)
    return lambda s: any(n in s.lower() for n in lowered)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "min": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "max": lambda a, b: a <= b,
}

_SEMVER_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "semver_eq": lambda a, b: a == b,
    "semver_neq": lambda a, b: a != b,
    "semver_gt": lambda a, b: a > b,
    "semver_gte": lambda a, b: a >= b,
    "semver_lt": lambda a, b: a < b,
    "semver_lte": lambda a, b: a <= b,
}


def _semver_parts(value: Any, name: str) -> list[int]:
    if not isinstance(value, str):
        raise FilterError(f"{name} operator requires a semver string value", "compile")
    parts = [parse_ascii_int(p, max_digits=18) for p in value.strip().split("-")[0].split(".")]
    if any(p is None for p in parts):
        raise FilterError(f"{name} operator requires a valid semver string (e.g., '1.2.3')", "compile")
    return [p for p in parts if p is not None]


def _semver_bounds(operator: str, value: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Half-open version range [low, high) for ~, ^ and wildcard (the bounds PostHog's HogQL uses)."""
    if operator == "semver_wildcard":
        if not isinstance(value, str) or not value.rstrip(".*"):
            raise FilterError("Wildcard operator requires a valid semver string (e.g., '1.2.3')", "compile")
        nums = _semver_parts(value.rstrip(".*"), "Wildcard")
        if len(nums) == 1:
            low, high = [nums[0]], [nums[0] + 1]
        elif len(nums) == 2:
            low, high = nums[:2], [nums[0], nums[1] + 1]
        else:
            low, high = nums[:3], [nums[0], nums[1], nums[2] + 1]
    else:
        nums = _semver_parts(value, "Tilde" if operator == "semver_tilde" else "Caret")
        major, minor, patch = [*nums, 0, 0][:3]
        low = [major, minor, patch]
        if operator == "semver_tilde":
            high = [major + 1] if len(nums) < 2 else [major, minor + 1]
        else:
            high = [major + 1] if major else [0, minor + 1] if minor else [0, 0, patch + 1]
    return tuple([*low, 0, 0, 0, 0, 0, 0][:6]), tuple([*high, 0, 0, 0, 0, 0, 0][:6])


def _element_test(operator: str, value: Any) -> _Test:
    """Test for one property value (a scalar, or one array element) against ONE constant."""
    if operator in ("exact", "in", "is_cleaned_path_exact"):
        if value is None:
            return lambda v: v is None
        expected = as_text(value)
        return lambda v: v is not None and as_text(v) == expected
    if operator in ("is_not", "not_in"):
        if value is None:
            return lambda v: v is not None
        unexpected = as_text(value)
        return lambda v: v is None or as_text(v) != unexpected
    if operator in ("icontains", "not_icontains"):
        # HogQL formats the constant with an f-string: lists render as "[...]", None as "None".
        needle = value if isinstance(value, str) else str(value)
        contains = ilike_contains(needle)
        if operator == "icontains":
            return lambda v: v is not None and contains(v if type(v) is str else as_text(v) or "")
        return lambda v: v is None or not contains(v if type(v) is str else as_text(v) or "")
    if operator in ("icontains_multi", "not_icontains_multi"):
        contains = _multi_contains(value if isinstance(value, list) else [value])
        if operator == "icontains_multi":
            return lambda v: v is not None and contains(as_text(v) or "")
        # HogQL writes this one as `multiSearchAny(…) = 0`, and `NULL = 0` is false: NULL never matches here,
        # unlike single-value not_icontains (`NOT ILIKE`, where NULL counts as "does not contain").
        return lambda v: v is not None and not contains(as_text(v) or "")
    if operator in ("regex", "not_regex"):
        regex = compile_regex(as_text(value) or "")
        search = regex.search
        if operator == "regex":
            return lambda v: v is not None and search(v if type(v) is str else as_text(v) or "") is not None
        return lambda v: v is None or search(v if type(v) is str else as_text(v) or "") is None
    if operator == "is_set":
        return lambda v: v is not None
    if operator == "is_not_set":
        return lambda v: v is None
    if operator in _COMPARE:
        compare = _COMPARE[operator]
        bound = as_number(value)
        if bound is None:
            text_bound = as_text(value)
            return lambda v: v is not None and text_bound is not None and compare(as_text(v), text_bound)
        return lambda v: (n := as_number(v)) is not None and compare(n, bound)
    if operator in ("is_date_exact", "is_date_before", "is_date_after"):
        when = _parse_date(value)
        if when is None:
            raise FilterError(f"{operator} requires a date value, got {value!r}", "compile")
        compare_date: Callable[[dt.datetime, dt.datetime], bool] = {
            "is_date_exact": lambda a, b: a == b,
            "is_date_before": lambda a, b: a < b,
            "is_date_after": lambda a, b: a > b,
        }[operator]
        return lambda v: (d := _parse_date(v)) is not None and compare_date(d, when)
    if operator in _SEMVER_COMPARE:
        target = semver_key(value)
        if target is None:
            raise FilterError(f"{operator} requires a valid semver string (e.g., '1.2.3')", "compile")
        compare_version = _SEMVER_COMPARE[operator]
        if operator == "semver_neq":
            # `!=` is the one comparison HogQL makes true when the property is NULL.
            return lambda v: (k := semver_key(v)) is None or k != target
        return lambda v: (k := semver_key(v)) is not None and compare_version(k, target)
    if operator in ("semver_tilde", "semver_caret", "semver_wildcard"):
        low, high = _semver_bounds(operator, value)
        return lambda v: (k := semver_key(v)) is not None and low <= k < high
    raise FilterError(f"operator {operator!r} is not supported", "compile")


def _between_test(operator: str, value: Any) -> _Test:
    if not isinstance(value, list) or len(value) != 2:
        raise FilterError(f"{operator} operator requires a two-element array [min, max]", "compile")
    low, high = as_number(value[0]), as_number(value[1])
    if low is None or high is None:
        raise FilterError(f"{operator} operator requires numeric values", "compile")
    if low > high:
        raise FilterError(f"{operator} operator requires min value to be less than or equal to max value", "compile")
    if operator == "between":
        return lambda v: (n := as_number(v)) is not None and low <= n <= high
    return lambda v: (n := as_number(v)) is not None and (n < low or n > high)


def _value_tests(operator: str, value: Any) -> tuple[list[_Test], bool] | None:
    """The per-value tests of a leaf and whether they combine with AND; None = the leaf is constant true."""
    if operator in ("between", "not_between"):
        return [_between_test(operator, value)], False
    if not isinstance(value, list):
        return [_element_test(operator, value)], False
    if operator in ("icontains", "not_icontains"):
        if len(value) == 1:
            return [_element_test(operator, value[0])], False
        if len(value) == 0:
            return [_element_test(operator, "[]")], False
        multi = "icontains_multi" if operator == "icontains" else "not_icontains_multi"
        return [_element_test(multi, value)], False
    if len(value) == 0:
        return None
    if len(value) == 1:
        return [_element_test(operator, value[0])], False
    if operator in ("exact", "in", "is_not", "not_in"):
        members = frozenset(as_text(v) for v in value)
        if operator in ("exact", "in"):
            return [lambda v: v is not None and as_text(v) in members], False
        return [lambda v: v is None or as_text(v) not in members], False
    if operator in ("icontains_multi", "not_icontains_multi"):
        return [_element_test(operator, value)], False
    return [_element_test(operator, v) for v in value], operator in ("not_regex", "not_icontains", "is_not")


def _compile_leaf(node: Mapping[str, Any]) -> Predicate:
    _check_leaf(node)
    key: str = node["key"]
    operator: str = node.get("operator") or "exact"
    from_issue = node.get("type", "event") in ISSUE_LEAF_TYPES
    compiled = _value_tests(operator, node.get("value"))
    if compiled is None:
        return lambda props, issue: True
    tests, conjunctive = compiled
    combine = all if conjunctive else any

    if from_issue:
        return lambda props, issue: combine(t(issue.get(key) if issue else None) for t in tests)

    if key in ARRAY_KEYS and operator not in ("is_set", "is_not_set"):
        value = node.get("value")
        if operator in ("exact", "in", "is_cleaned_path_exact") and value is not None and value != []:
            # "some element equals one of the values" is a set intersection.
            members = frozenset(as_text(v) for v in (value if isinstance(value, list) else [value]))
            return lambda props, issue: not members.isdisjoint(as_string_list(props.get(key)))

        def array_leaf(props: Properties, issue: Mapping[str, Any] | None) -> bool:
            elements = as_string_list(props.get(key))
            # arrayExists over an empty array is false for every test, positive or negative.
            return bool(elements) and combine(any(map(t, elements)) for t in tests)

        return array_leaf
    if key in ARRAY_KEYS:
        # arrayExists(v -> v IS [NOT] NULL): elements are never null, so "set" means "non-empty".
        if operator == "is_set":
            return lambda props, issue: bool(as_string_list(props.get(key)))
        return lambda props, issue: False

    if len(tests) == 1:
        only = tests[0]
        return lambda props, issue: only(props.get(key))
    return lambda props, issue: combine(t(props.get(key)) for t in tests)


def _compile_node(node: Any, depth: int, budget: list[int]) -> Predicate:
    if not isinstance(node, Mapping):
        raise FilterError("every filter entry must be an object")
    if depth > MAX_DEPTH:
        raise FilterError(f"filters may nest at most {MAX_DEPTH} groups deep")
    if _is_group(node):
        if set(node) - {"type", "values"}:
            raise FilterError("unexpected field in filter group: " + ", ".join(sorted(set(node) - {"type", "values"})))
        group_type = node.get("type")
        if group_type not in GROUP_TYPES:
            raise FilterError(f'PropertyGroupFilter of unknown type "{group_type}"')
        values = node["values"]
        if not isinstance(values, list):
            raise FilterError("filter group values must be a list")
        children = [_compile_node(child, depth + 1, budget) for child in values]
        if not children:
            return lambda props, issue: True
        if len(children) == 1:
            return children[0]
        if group_type == "AND":
            return lambda props, issue: all(child(props, issue) for child in children)
        return lambda props, issue: any(child(props, issue) for child in children)
    if node.get("type") == "empty" and "key" not in node:
        return lambda props, issue: True
    budget[0] -= 1
    if budget[0] < 0:
        raise FilterError(f"filters may contain at most {MAX_LEAVES} conditions")
    return _compile_leaf(node)


def compile_filters(filters: Any) -> Predicate:
    """Compile a PropertyGroupFilterValue into `predicate(properties, issue) -> bool` (raises FilterError)."""
    if not isinstance(filters, Mapping):
        raise FilterError("filters must be an object")
    if "values" not in filters:
        raise FilterError("filters must have a values list")
    return _compile_node(filters, 0, [MAX_LEAVES])


def leaves(filters: Any) -> list[Mapping[str, Any]]:
    """Every leaf of a (valid) filter tree, depth first."""
    found: list[Mapping[str, Any]] = []
    if isinstance(filters, Mapping):
        for entry in filters.get("values") or []:
            if isinstance(entry, Mapping):
                if _is_group(entry):
                    found.extend(leaves(entry))
                elif "key" in entry:
                    found.append(entry)
    return found
