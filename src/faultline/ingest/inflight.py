"""How many capture body bytes the process holds at once, across every request.

The per-request caps (body, decompressed size, JSON values) and the decode slots bound what one request costs,
and the connection cap bounds how many there are, but their product is not a memory bound anyone would configure:
1,000 connections each trickling a body toward the 20 MiB cap would ask for 20 GiB. This budget is the bound: bytes
are taken from it as a body arrives (all of a declared `Content-Length` at once, so a request that cannot fit is
refused before it sends anything more) and given back when its request is answered.
"""

from __future__ import annotations

import threading


class BodyBudget:
    """A byte budget shared by every capture request of the process (thread-safe: the app may be driven from more
    than one event loop in tests)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def try_take(self, amount: int) -> bool:
        """Take `amount` bytes if they fit; False (and nothing taken) if they do not."""
        with self._lock:
            if self._used + amount > self.limit:
                return False
            self._used += amount
            return True

    def give_back(self, amount: int) -> None:
        with self._lock:
            self._used = max(0, self._used - amount)
