"""The ingest queue contract: what capture endpoints and the digest worker need from a queue, nothing more.

Capture calls `put` and answers the SDK only after it returned: a 2xx therefore means "durably queued". The worker
`claim`s a batch, digests it in one database transaction, then `ack`s it. A claim is a lease: a worker that dies
before acking leaves its messages to be claimed again (after the lease, or at once by `recover` on start-up), and
the digest is idempotent by event uuid, so redelivery never double-counts.

The queue is bounded (`QueueLimits`): with the worker stopped or slower than capture, `put` refuses a request that
would take the queue past its limit with `QueueFull` (capture answers 503 + Retry-After, SDKs retry later) instead of
filling the disk or Redis' memory. The check and the append happen in one transaction (SQLite) or one script
(Redis), against a running total kept beside the queue, so it costs no scan and holds with many capture processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class QueueLimits:
    """How much the queue may hold: events not yet acknowledged, and the bytes of their payloads."""

    max_events: int | None = None
    max_bytes: int | None = None

    def admits(self, events: int, size: int, more_events: int, more_bytes: int) -> bool:
        """Whether `more_events` / `more_bytes` fit beside what is queued: reaching a limit exactly is allowed."""
        if self.max_events is not None and events + more_events > self.max_events:
            return False
        return self.max_bytes is None or size + more_bytes <= self.max_bytes


class QueueFull(Exception):
    """A `put` refused whole because it would exceed the queue's limits; nothing of it was queued."""

    def __init__(self, events: int, size: int, limits: QueueLimits) -> None:
        self.events, self.size, self.limits = events, size, limits
        bounds = []
        if limits.max_events is not None:
            bounds.append(f"{limits.max_events} events")
        if limits.max_bytes is not None:
            bounds.append(f"{limits.max_bytes} bytes")
        super().__init__(f"queue holds {events} events ({size} bytes); limit {' / '.join(bounds)}")


@dataclass(frozen=True)
class Message:
    """One queued event: `payload` is the orjson document written by capture (see `faultline.ingest.posthog_body`)."""

    id: str
    project_id: int
    payload: bytes
    attempts: int = 1  # deliveries counted so far, this one included


class Queue(Protocol):
    backend: str
    limits: QueueLimits

    def put(self, items: Sequence[tuple[int, bytes]]) -> None:
        """Durably enqueue `(project_id, payload)` pairs; returns only once they survive a crash. Raises `QueueFull`
        (queuing none of them) when they would take the queue past its limits."""
        ...

    async def put_async(self, items: Sequence[tuple[int, bytes]]) -> None: ...

    def claim(self, max_items: int, wait_seconds: float, max_bytes: int | None = None) -> list[Message]:
        """Lease up to `max_items` messages, waiting up to `wait_seconds` for the first one. With `max_bytes`, the
        payloads together stay within it — except that the first message is always taken, so a batch is never
        empty because one event is large. What a digest batch holds in memory grows with its payload bytes (a
        parsed event is several times its JSON), so counting messages alone let 500 large events take the worker
        to ~600 MiB."""
        ...

    def ack(self, messages: Sequence[Message]) -> None:
        """Remove digested messages for good."""
        ...

    def release(self, messages: Sequence[Message], delay_seconds: float = 0.0, *, count_attempt: bool = True) -> None:
        """Give leased messages back, claimable again after `delay_seconds`. `count_attempt=False` when the failure
        was not the message's (the database was down): that delivery then does not count towards dead-lettering."""
        ...

    def recover(self) -> int:
        """Make messages leased by dead consumers claimable again; returns how many."""
        ...

    def pending(self) -> int:
        """Messages not yet acknowledged (queued or leased), from the running total: no scan."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
