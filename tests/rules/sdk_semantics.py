"""What posthog-js 1.449 does with a shipped suppression rule, transcribed for tests.

Source: `posthog-js/lib/src/posthog-exceptions.js` `_matchesSuppressionRule` and `@posthog/core`
`propertyComparisons` (read from the npm package tests/browser installs). The browser test checks the real SDK;
this model lets the property tests explore many rules and exception lists quickly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def _regex(value: str, pattern: str) -> bool:
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


COMPARISONS: dict[str, Callable[[Sequence[str], Sequence[str]], bool]] = {
    "exact": lambda targets, values: any(v == t for v in values for t in targets),
    "is_not": lambda targets, values: all(v != t for v in values for t in targets),
    "regex": lambda targets, values: any(_regex(v, t) for v in values for t in targets),
    "not_regex": lambda targets, values: all(not _regex(v, t) for v in values for t in targets),
    "icontains": lambda targets, values: any(t.lower() in v.lower() for v in values for t in targets),
    "not_icontains": lambda targets, values: all(t.lower() not in v.lower() for v in values for t in targets),
}


def sdk_drops(rule: Mapping[str, Any], exception_list: Sequence[Mapping[str, Any]]) -> bool:
    if not exception_list:
        return False
    arrays = {
        "$exception_types": [e["type"] for e in exception_list if isinstance(e.get("type"), str) and e["type"]],
        "$exception_values": [e["value"] for e in exception_list if isinstance(e.get("value"), str) and e["value"]],
    }
    results = []
    for leaf in rule["values"]:
        compare = COMPARISONS.get(leaf.get("operator"))
        values = arrays.get(leaf.get("key"))
        if compare is None or values is None:
            results.append(False)
            continue
        targets = leaf["value"] if isinstance(leaf["value"], list) else [leaf["value"]]
        results.append(compare(targets, values) if targets else False)
    return any(results) if rule["type"] == "OR" else all(results)
