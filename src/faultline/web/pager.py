"""Limit/offset pagination links for pages, keeping every other query parameter (filters, sort, tab) intact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from faultline.ids import parse_ascii_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_OFFSET = 10_000_000


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    value = parse_ascii_int(raw, max_digits=9)
    if value is None:
        return default
    return min(max(value, low), high)


@dataclass(frozen=True)
class Pager:
    total: int
    limit: int
    offset: int
    path: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_query(
        cls, query: Mapping[str, str], *, total: int, path: str, default_limit: int = DEFAULT_LIMIT
    ) -> Pager:
        limit = _int(query.get("limit"), default_limit, 1, MAX_LIMIT)
        offset = _int(query.get("offset"), 0, 0, MAX_OFFSET)
        kept = tuple((k, v) for k, v in query.items() if k not in ("limit", "offset"))
        return cls(total=total, limit=limit, offset=offset, path=path, params=kept)

    @staticmethod
    def window(query: Mapping[str, str], default_limit: int = DEFAULT_LIMIT) -> tuple[int, int]:
        """(limit, offset) from a query string, clamped — before the total is known."""
        return _int(query.get("limit"), default_limit, 1, MAX_LIMIT), _int(query.get("offset"), 0, 0, MAX_OFFSET)

    def _url(self, offset: int) -> str:
        params = list(self.params)
        if self.limit != DEFAULT_LIMIT:
            params.append(("limit", str(self.limit)))
        if offset:
            params.append(("offset", str(offset)))
        return self.path + (f"?{urlencode(params)}" if params else "")

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def first_item(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_item(self) -> int:
        return min(self.offset + self.limit, self.total)

    @property
    def previous_url(self) -> str | None:
        return self._url(max(self.offset - self.limit, 0)) if self.offset > 0 else None

    @property
    def next_url(self) -> str | None:
        return self._url(self.offset + self.limit) if self.offset + self.limit < self.total else None
