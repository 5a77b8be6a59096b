"""Which suppression rules may be shipped to SDKs, and in what form (spec §3.5, §6.5).

posthog-js evaluates shipped rules before sending an exception, with its own semantics: only the keys
`$exception_types` / `$exception_values`, one flat level of leaves, and negative operators meaning "for all"
(every value differs) where the server means "there exists" (some value differs). A rule is shipped only when
every event the SDK would drop is one the server would drop too, so moving suppression to the client never loses
an exception the server would have kept:

* flat AND/OR groups of `event` leaves on the two keys above, operators exact / is_not / icontains / not_icontains,
  non-empty string values — for these, "the SDK matches" implies "the server matches" on any exception list with
  at least one non-empty type and message;
* `not_icontains` with a single value containing `%` or `_` is kept server-side: the server reads them as ILIKE
  wildcards, the SDK literally, so the SDK could match where the server does not;
* sampled rules (`sampling_rate < 1`) and disabled rules stay server-side: SDKs ignore `samplingRate`;
* match-all rules (no condition) are not shipped either; the server still drops those events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLIENT_KEYS = frozenset({"$exception_types", "$exception_values"})
CLIENT_OPERATORS = frozenset({"exact", "is_not", "icontains", "not_icontains"})


def _client_leaf(leaf: Any) -> dict[str, Any] | None:
    if not isinstance(leaf, Mapping) or "values" in leaf:
        return None
    if leaf.get("type", "event") != "event" or leaf.get("key") not in CLIENT_KEYS:
        return None
    operator = leaf.get("operator") or "exact"
    if operator not in CLIENT_OPERATORS:
        return None
    value = leaf.get("value")
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        return None
    if operator == "not_icontains" and len(values) == 1 and any(c in values[0] for c in "%_\\"):
        return None
    return {"key": leaf["key"], "type": "event", "operator": operator, "value": value}


def client_safe_rule(filters: Any, sampling_rate: float, disabled_data: Any = None) -> dict[str, Any] | None:
    """The rule as sent in `errorTracking.suppressionRules`, or None if it must stay server-side."""
    if disabled_data is not None or not sampling_rate >= 1:
        return None
    if not isinstance(filters, Mapping) or filters.get("type") not in ("AND", "OR"):
        return None
    entries = filters.get("values")
    if not isinstance(entries, list) or not entries:
        return None
    shipped = [_client_leaf(entry) for entry in entries]
    if any(leaf is None for leaf in shipped):
        return None
    return {"type": filters["type"], "values": shipped}
