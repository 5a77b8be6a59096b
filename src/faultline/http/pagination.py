"""DRF LimitOffsetPagination, byte-for-byte: ``{"count", "next", "previous", "results"}`` with ``?limit&offset``.

DRF quietly falls back to the default for an unparseable or non-positive ``limit`` and clamps it to the maximum,
and treats a bad ``offset`` as 0; clients written against PostHog rely on that leniency, so we copy it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from faultline.http import links
from faultline.ids import parse_ascii_int

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Larger offsets cannot match anything, and unbounded ones overflow SQLite's 64-bit integers (a 500).
MAX_OFFSET = 2**53

T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


def _positive_int(raw: str | None, *, strict: bool, cutoff: int | None = None) -> int | None:
    """DRF's leniency, except that only ASCII digits count (`int()` would also read `١` as 1 and `1_0` as 10)."""
    value = parse_ascii_int(raw.strip() if raw is not None else None, max_digits=30)
    if value is None:
        return None
    if strict and value == 0:
        return None
    if cutoff is not None:
        value = min(value, cutoff)
    return value


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int
    url: str

    def link(self, offset: int | None) -> str:
        """The request URL (on the public URL) with limit/offset replaced (offset None removes it, as DRF does for
        page one)."""
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("limit", "offset")]
        query.append(("limit", str(self.limit)))
        if offset is not None:
            query.append(("offset", str(offset)))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    def envelope(self, count: int, results: Sequence[Any]) -> dict[str, Any]:
        next_link = self.link(self.offset + self.limit) if self.offset + self.limit < count else None
        if self.offset <= 0:
            previous = None
        elif self.offset - self.limit <= 0:
            previous = self.link(None)
        else:
            previous = self.link(self.offset - self.limit)
        return {"count": count, "next": next_link, "previous": previous, "results": list(results)}


def page_params_factory(default_limit: int = DEFAULT_LIMIT, max_limit: int = MAX_LIMIT) -> Callable[..., PageParams]:
    """A FastAPI dependency reading ``limit``/``offset`` with DRF's lenient rules (some endpoints cap at 100)."""

    def dependency(
        request: Request,
        limit: str | None = Query(
            None, description=f"Number of results per page (default {default_limit}, max {max_limit})."
        ),
        offset: str | None = Query(None, description="Initial index from which to return the results."),
    ) -> PageParams:
        parsed_limit = _positive_int(limit, strict=True, cutoff=max_limit) or default_limit
        parsed_offset = _positive_int(offset, strict=False, cutoff=MAX_OFFSET) or 0
        return PageParams(limit=parsed_limit, offset=parsed_offset, url=links.public_url(request))

    return dependency


page_params = page_params_factory()


def paginate_query(
    session: Session,
    params: PageParams,
    stmt: sa.Select[Any],
    serialize: Callable[[Any], Any],
    *,
    scalars: bool = True,
) -> dict[str, Any]:
    """Count and slice a SELECT, returning the DRF envelope with `serialize` applied to each row."""
    count = session.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    page_stmt = stmt.limit(params.limit).offset(params.offset)
    rows = session.execute(page_stmt)
    items = rows.scalars().all() if scalars else rows.all()
    return params.envelope(count, [serialize(item) for item in items])


def paginate_list(params: PageParams, items: Sequence[Row], serialize: Callable[[Row], Any]) -> dict[str, Any]:
    window = items[params.offset : params.offset + params.limit]
    return params.envelope(len(items), [serialize(item) for item in window])
