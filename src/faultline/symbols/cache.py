"""In-process caches for symbolication.

Building a `SourceMapCache` for a 1 MB source map costs ~100 ms while a lookup costs microseconds, so parsed symbol
sets are kept in an LRU bounded by the bytes they were built from (their real memory use is of the same order).
The budget is a hard one: an item bigger than the whole budget is not cached at all (the batch that needs it keeps
it while it runs), so a single huge set cannot pin memory the operator did not grant.
Symbol-set rows are cached for a few seconds only: long enough that a batch of frames with the same chunk id costs
one query, short enough that an upload handled by another process is seen almost at once (uploads handled by this
process invalidate the entry directly).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByteBudgetLRU(Generic[V]):
    """Least-recently-used map whose total `size` never exceeds `budget` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: V, size: int) -> bool:
        """Cache `value`, evicting the least recently used items; False (and nothing cached) when `size` alone
        exceeds the budget."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._total -= old[1]
            if size > self.budget:
                return False
            self._items[key] = (value, size)
            self._total += size
            while self._total > self.budget:
                _, (_, evicted) = self._items.popitem(last=False)
                self._total -= evicted
            return True

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._total -= old[1]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0

    @property
    def total_bytes(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._items)


class TTLCache(Generic[V]):
    """A small expiring map with a hard entry cap (oldest entries go first)."""

    def __init__(self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < self._clock():
                del self._items[key]
                return None
            return item[1]

    def put(self, key: Hashable, value: V, ttl: float | None = None) -> None:
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = (self._clock() + (self.ttl if ttl is None else ttl), value)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
