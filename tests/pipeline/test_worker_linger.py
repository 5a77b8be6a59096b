"""The digest loop's pause after a batch that emptied the queue (issue 18: one event per Sentry request made the
digest claim batches of a few events, each paying a batch's fixed cost): it pauses after a partial batch, never
after a full one (a backlog is digested without pauses), nor after an empty claim (the claim already waited)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faultline.ingest.queue import Message
from faultline.pipeline.worker import LINGER_SECONDS, Worker


class ScriptedQueue:
    """Answers each claim with the next scripted number of messages; stops the worker when the script ends."""

    def __init__(self, sizes: Sequence[int], payload: bytes = b"{}") -> None:
        self.sizes = list(sizes)
        self.payload = payload
        self.budgets: list[int | None] = []
        self.worker: Worker | None = None
        self.acked = 0
        self.log: list[str] = []

    def recover(self) -> int:
        return 0

    def claim(self, max_items: int, wait_seconds: float, max_bytes: int | None = None) -> list[Message]:
        if not self.sizes:
            assert self.worker is not None
            self.worker._stop.set()
            return []
        n = min(self.sizes.pop(0), max_items)
        self.log.append(f"claim {n}")
        self.budgets.append(max_bytes)
        return [Message(id=str(i), project_id=1, payload=self.payload) for i in range(n)]

    def ack(self, messages: Sequence[Message]) -> None:
        self.acked += len(messages)


class NullPipeline:
    def process(self, items: Sequence[Any]) -> list[Any]:
        return []


def run(
    sizes: Sequence[int], *, batch_size: int = 10, payload: bytes = b"{}", **kwargs: Any
) -> tuple[ScriptedQueue, list[float]]:
    queue = ScriptedQueue(sizes, payload)
    worker = Worker(None, queue, NullPipeline(), batch_size=batch_size, **kwargs)  # type: ignore[arg-type]
    queue.worker = worker
    waits: list[float] = []

    def wait(timeout: float | None = None) -> bool:
        waits.append(timeout or 0.0)
        queue.log.append(f"pause {timeout}")
        return worker._stop.is_set()

    worker._stop.wait = wait  # type: ignore[method-assign]
    worker.run_forever()
    return queue, waits


def test_pauses_after_a_partial_batch_only() -> None:
    queue, waits = run([3, 10, 10, 1, 0, 7])
    assert queue.log == [
        "claim 3",
        f"pause {LINGER_SECONDS}",
        "claim 10",
        "claim 10",
        "claim 1",
        f"pause {LINGER_SECONDS}",
        "claim 0",
        "claim 7",
        f"pause {LINGER_SECONDS}",
    ]
    assert queue.acked == 31
    assert waits == [LINGER_SECONDS] * 3


def test_no_pause_when_lingering_is_off() -> None:
    queue, waits = run([3, 1], linger_seconds=0)
    assert waits == []
    assert queue.acked == 4


def test_the_byte_budget_reaches_the_queue_and_a_batch_cut_by_it_is_not_followed_by_a_pause() -> None:
    """A batch holding at least half the byte budget was cut by bytes (the queue may hold more) and is large enough
    already: the loop claims again at once. A small partial batch still pauses."""
    big, _ = run([3, 3], payload=b"x" * 600, batch_bytes=1_000)
    assert big.budgets == [1_000, 1_000]
    assert f"pause {LINGER_SECONDS}" not in big.log
    _, waits = run([3], payload=b"x" * 100, batch_bytes=1_000)
    assert waits == [LINGER_SECONDS]
