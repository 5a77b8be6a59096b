"""The ingest queue contract: what capture endpoints and the digest worker need from a queue, nothing more.

Capture calls `put` and answers the SDK only after it returned: a 2xx therefore means "durably queued". The worker
`claim`s a batch, digests it in one database transaction, then `ack`s it. A claim is a lease: a worker that dies
before acking leaves its messages to be claimed again (after the lease, or at once by `recover` on start-up), and
the digest is idempotent by event uuid, so redelivery never double-counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One queued event: `payload` is the orjson document written by capture (see `faultline.ingest.envelope`)."""

    id: str
    project_id: int
    payload: bytes
    attempts: int = 1


class Queue(Protocol):
    backend: str

    def put(self, items: Sequence[tuple[int, bytes]]) -> None:
        """Durably enqueue `(project_id, payload)` pairs; returns only once they survive a crash."""
        ...

    async def put_async(self, items: Sequence[tuple[int, bytes]]) -> None: ...

    def claim(self, max_items: int, wait_seconds: float) -> list[Message]:
        """Lease up to `max_items` messages, waiting up to `wait_seconds` for the first one."""
        ...

    def ack(self, messages: Sequence[Message]) -> None:
        """Remove digested messages for good."""
        ...

    def release(self, messages: Sequence[Message], delay_seconds: float = 0.0) -> None:
        """Give leased messages back (processing failed for a reason worth retrying)."""
        ...

    def recover(self) -> int:
        """Make messages leased by dead consumers claimable again; returns how many."""
        ...

    def pending(self) -> int:
        """Messages not yet acknowledged (queued or leased)."""
        ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
