"""Connection guard: header size cap, header and body read deadlines and a connection cap for uvicorn.

Why a subclass of uvicorn's httptools protocol rather than another server: uvicorn has none of the three (its
`limit_concurrency` answers 503 once headers are complete, so connections that never complete them still pile up;
httptools buffers a header of any size, re-concatenating it at every read, so one 100 MiB header stalls the event
loop for seconds), and the servers that have some of them lack the rest (granian: a header-read timeout and a
buffer cap, but no body deadline and no connection cap; hypercorn: an idle read timeout, no cap, slower). The
guard costs a timer per request; the README ("HTTP server") has the measured comparison.

What it enforces, per connection:

* headers: at most `max_header_bytes` from the request line to the blank line (431 past that), received within
  `header_timeout` seconds of the connection opening or of the first byte of a request on a kept-alive
  connection (408);
* body: received within `body_timeout` seconds of the headers, plus one second per `body_min_rate` bytes
  received, so a trickle is cut while a large upload at a decent rate is not (408; the app sees a disconnect);
* connections: at most `max_connections` open. The one over the cap closes the most expendable connection —
  idle keep-alive first, then the oldest still sending headers, then the oldest still sending a body — so slow
  clients cannot starve real ones; a connection whose request is being served is never closed, and if all are,
  the newcomer gets 503 (SDKs retry).

Error answers are sent with `connection: close`, then the connection lingers (reading and discarding, bounded in
bytes and time) so the client can read the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from faultline.http.responses import ORJSONResponse

log = logging.getLogger("faultline.http")

# Scope key the guard sets before it cuts a request whose body is late, so the app can log why it saw a disconnect.
CLOSED_BY_SERVER = "faultline.closed_by_server"

_LINGER_SECONDS = 1.0
_LINGER_BYTES = 1024 * 1024
_MAX_LINGERING = 32  # connections lingering at once (within the descriptors kept aside: see http/server.py)
_CAP_WARNING_INTERVAL = 10.0
# A connection that has sent nothing yet may simply not have been read yet: the event loop accepts a whole burst of
# connections before it reads any of them. Closing it then could cut a real client queued behind slow ones.
_FRESH_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 65536
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    body_min_rate: int = 16384
    max_connections: int = 1000


class Phase(enum.Enum):
    HEADERS = "headers"  # waiting for (the rest of) a request's headers; idle keep-alive when none came yet
    BODY = "body"  # headers complete, body still arriving
    READ = "read"  # the whole request is in; the app is answering it
    CLOSING = "closing"  # an error answer was sent; draining until close


def error_bytes(status: int, code: str, detail: str, *, extra_headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A complete HTTP/1.1 error answer in PostHog's error shape, for the paths where no ASGI app runs."""
    error_type = "server_error" if status >= 500 else "invalid_request"
    body = ORJSONResponse({"type": error_type, "code": code, "detail": detail, "attr": None}).body
    reason = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}[status]
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in extra_headers),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class ConnectionRegistry:
    """The open connections of one server, for the cap; also paces the cap warning (one line per interval)."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self.open: set[GuardedHttpToolsProtocol] = set()
        self._warned_at = float("-inf")
        self._closed = 0
        self._refused = 0
        self.lingering = 0

    def start_lingering(self) -> bool:
        if self.lingering >= _MAX_LINGERING:
            return False
        self.lingering += 1
        return True

    def admit(self, conn: GuardedHttpToolsProtocol) -> bool:
        """Register `conn`; if that goes over the cap, close the most expendable other one, or refuse `conn`."""
        self.open.add(conn)
        if len(self.open) <= self.limits.max_connections:
            return True
        victim = self._most_expendable(exclude=conn)
        if victim is None:
            self.open.discard(conn)
            self._refused += 1
            self._warn()
            return False
        victim.evict()
        self._closed += 1
        self._warn()
        return True

    def release(self, conn: GuardedHttpToolsProtocol) -> None:
        self.open.discard(conn)

    def _most_expendable(self, exclude: GuardedHttpToolsProtocol) -> GuardedHttpToolsProtocol | None:
        best: GuardedHttpToolsProtocol | None = None
        best_key: tuple[int, float] | None = None
        for conn in self.open:
            if conn is exclude:
                continue
            rank = conn.eviction_rank()
            if rank is None:
                continue
            key = (rank, conn.phase_since)
            if best_key is None or key < best_key:
                best, best_key = conn, key
        return best

    def _warn(self) -> None:
        now = time.monotonic()
        if now - self._warned_at < _CAP_WARNING_INTERVAL:
            return
        log.warning(
            "connection cap FAULTLINE_MAX_CONNECTIONS=%d reached: %d slow or idle connections closed, %d new ones "
            "refused with 503 (since the last such line)",
            self.limits.max_connections,
            self._closed,
            self._refused,
        )
        self._warned_at, self._closed, self._refused = now, 0, 0


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; bind limits with `guarded_protocol(limits)`."""

    registry: ClassVar[ConnectionRegistry]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = self.registry.limits
        self.phase = Phase.HEADERS
        self.phase_since = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._body_bytes = 0
        self._drained = 0
        self._lingering = False
        self._served = False  # answered a request already: with no bytes pending it is an idle keep-alive

    # -- connection life -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter_headers(arm=True)
        if not self.registry.admit(self):
            self._fail(
                503, "too_many_connections", "The server has too many open connections; retry later.", linger=False
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.release(self)
        if self._lingering:
            self._lingering = False
            self.registry.lingering -= 1
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Feed the parser only as much header as the cap allows: httptools would buffer any amount.
        while data:
            if self.phase is Phase.CLOSING:
                self._drain(len(data))
                return
            if self.phase is not Phase.HEADERS:
                super().data_received(data)
                return
            if self._timer is None:  # first byte of a request on a kept-alive connection
                self._enter_headers(arm=True)
            room = self.limits.max_header_bytes - self._header_bytes
            if len(data) <= room:
                self._header_bytes += len(data)
                super().data_received(data)
                return
            head, data = data[:room], data[room:]
            self._header_bytes += len(head)
            if head:
                super().data_received(head)
            if self.transport.is_closing() or self.phase is Phase.CLOSING:
                return
            if self.phase is Phase.HEADERS:
                self._fail(
                    431,
                    "headers_too_large",
                    f"Request headers are larger than {self.limits.max_header_bytes} bytes.",
                    why=f"request headers over {self.limits.max_header_bytes} bytes",
                )
                return
            # The headers ended inside `head`: the rest is body (or a pipelined request), fed by the next turn.

    # -- parser callbacks --------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.phase is not Phase.HEADERS:  # a pipelined request started inside an earlier read
            self._enter_headers(arm=True)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.phase, self.phase_since, self._body_bytes = Phase.BODY, time.monotonic(), 0
        self._arm(self.limits.body_timeout)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.phase is not Phase.BODY:
            return
        if self.cycle is not None and self.cycle.response_complete:
            # Answered before its body arrived (a 404, a 413 on the declared length…): the connection is idle now,
            # and uvicorn's keep-alive timer was cancelled by the body bytes; without a deadline it would stay open.
            self._enter_headers(arm=True)
        else:
            self.phase = Phase.READ
            self._cancel_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._served = True
        if self.phase is Phase.READ and not self.pipeline and not self.transport.is_closing():
            # Idle keep-alive: uvicorn's keep-alive timer closes it; the header deadline starts with the next byte.
            self._enter_headers(arm=False)

    # -- deadlines -------------------------------------------------------------------------------------------

    def _enter_headers(self, *, arm: bool) -> None:
        self.phase, self.phase_since, self._header_bytes = Phase.HEADERS, time.monotonic(), 0
        self._cancel_timer()
        if arm:
            self._arm(self.limits.header_timeout)

    def _arm(self, seconds: float) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(seconds, self._deadline)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        elapsed = time.monotonic() - self.phase_since
        if self.phase is Phase.HEADERS:
            if self._header_bytes == 0 and self._busy():
                return  # nothing sent yet while a previous request is still being answered
            if self._header_bytes == 0:
                self._close_quietly(f"no request within {self.limits.header_timeout:g} s")
                return
            self._fail(
                408,
                "request_timeout",
                f"Request headers were not received within {self.limits.header_timeout:g} seconds.",
                why=f"headers incomplete after {elapsed:.1f} s ({self._header_bytes} bytes)",
            )
        elif self.phase is Phase.BODY:
            allowed = self.limits.body_timeout
            if self.limits.body_min_rate:
                allowed += self._body_bytes / self.limits.body_min_rate
            if elapsed < allowed:
                self._arm(allowed - elapsed)
                return
            self._fail(
                408,
                "request_timeout",
                "The request body was not received in time.",
                why=f"body incomplete after {elapsed:.1f} s ({self._body_bytes} bytes)",
            )

    # -- cap -------------------------------------------------------------------------------------------------

    def _busy(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def eviction_rank(self) -> int | None:
        """0 idle keep-alive, 1 slow headers, 2 slow body; None: serving a request, just connected, or closing."""
        if self.transport is None or self.transport.is_closing() or self.phase is Phase.CLOSING:
            return None
        if self.phase is Phase.BODY:
            return 2
        if self.phase is not Phase.HEADERS or self._busy():
            return None
        if self._header_bytes:
            return 1
        if self._served:
            return 0
        return 1 if time.monotonic() - self.phase_since >= _FRESH_GRACE_SECONDS else None

    def evict(self) -> None:
        self.registry.release(self)
        if self.phase is Phase.HEADERS and self._header_bytes == 0:
            self._close_quietly("idle connection closed to admit a new one (connection cap)")
            return
        self._fail(
            503,
            "too_many_connections",
            "The server has too many open connections; retry later.",
            why=f"closed to admit a new connection (connection cap) while sending its {self.phase.value}",
            linger=False,
        )

    # -- closing ---------------------------------------------------------------------------------------------

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "unknown client"

    def _close_quietly(self, why: str) -> None:
        log.info("closed connection from %s: %s", self._peer(), why)
        self._cancel_timer()
        self.registry.release(self)
        self.transport.close()

    def _fail(self, status: int, code: str, detail: str, *, why: str | None = None, linger: bool = True) -> None:
        """Answer `status` unless a response already started, cut the request the app may be reading, close.

        Lingering (reading and discarding for a moment after the answer) lets a client that is still sending read
        the answer instead of a reset; it holds a descriptor, so only a few connections linger at once and never
        the ones closed to make room under the cap."""
        if why is not None:
            log.info("closed connection from %s with %d: %s", self._peer(), status, why)
        self._cancel_timer()
        self.registry.release(self)
        cycle = self.cycle
        answered = cycle is not None and cycle.response_started
        if cycle is not None and not cycle.response_complete:
            cycle.scope[CLOSED_BY_SERVER] = why or detail  # type: ignore[literal-required]
            cycle.disconnected = True  # the app's receive() now returns http.disconnect; its answer is dropped
            cycle.message_event.set()
        self.phase = Phase.CLOSING
        if answered or self.transport.is_closing():
            self.transport.close()
            return
        extra = (("retry-after", "1"),) if status == 503 else ()
        self.transport.write(error_bytes(status, code, detail, extra_headers=extra))
        if not (linger and self.transport.can_write_eof() and self.registry.start_lingering()):
            self.transport.close()
            return
        self._lingering = True
        self.flow.resume_reading()
        self.transport.write_eof()
        self._timer = self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def _drain(self, n: int) -> None:
        self._drained += n
        if self._drained > _LINGER_BYTES:
            self._cancel_timer()
            self.transport.close()


def guarded_protocol(limits: ServerLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to `limits` and a registry of its own (uvicorn instantiates it per connection)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"registry": ConnectionRegistry(limits)})
