"""Raw-socket clients for the HTTP server's limits: slow-loris connections that trickle their headers or body, and
one-shot exchanges of hand-written requests. Every loop here is bounded in time."""

from __future__ import annotations

import selectors
import socket
import threading
import time
from dataclasses import dataclass, field


def exchange(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send `request`, return everything the server answers until it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_until_closed(sock, timeout)


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    data = bytearray()
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:  # reset: what was read so far is the answer
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def status_of(response: bytes) -> int | None:
    parts = response.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and response.startswith(b"HTTP/1.") and parts[1].isdigit() else None


@dataclass
class SlowConnection:
    sock: socket.socket
    opened_at: float
    closed_after: float | None = None  # seconds from opening until the server answered or closed
    response: bytes = b""


@dataclass
class SlowClients:
    """`count` connections that send `opening`, then `drip` every `interval` seconds, until the server closes them
    or `give_up_after` seconds pass. `run()` in a thread; `closed()` / `open()` report what happened."""

    port: int
    count: int
    opening: bytes
    drip: bytes
    interval: float = 0.3
    give_up_after: float = 30.0
    connections: list[SlowConnection] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)  # no 1,024-fd cap

    def start(self) -> SlowClients:
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.setblocking(False)
            conn = SlowConnection(sock, time.monotonic())
            try:
                sock.send(self.opening)
            except OSError:
                conn.closed_after = 0.0
            self.connections.append(conn)
            if conn.closed_after is None:
                self._selector.register(sock, selectors.EVENT_READ, conn)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.give_up_after
        next_drip = time.monotonic() + self.interval
        while not self._stop.is_set() and time.monotonic() < deadline:
            alive = [c for c in self.connections if c.closed_after is None]
            if not alive:
                return
            for key, _ in self._selector.select(timeout=0.05):
                self._read(key.data)
            if time.monotonic() >= next_drip:
                next_drip += self.interval
                for conn in alive:
                    if conn.closed_after is None:
                        try:
                            conn.sock.send(self.drip)
                        except BlockingIOError:
                            pass
                        except OSError:
                            self._mark_closed(conn)

    def _read(self, conn: SlowConnection) -> None:
        try:
            chunk = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        conn.response += chunk
        if not chunk or conn.response.count(b"\r\n\r\n"):  # answered (headers of the answer are in) or closed
            self._mark_closed(conn)

    def _mark_closed(self, conn: SlowConnection) -> None:
        if conn.closed_after is None:
            conn.closed_after = time.monotonic() - conn.opened_at
            self._selector.unregister(conn.sock)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.still_open():
            time.sleep(0.05)

    def still_open(self) -> list[SlowConnection]:
        return [c for c in self.connections if c.closed_after is None]

    def closed(self) -> list[SlowConnection]:
        return [c for c in self.connections if c.closed_after is not None]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in self.connections:
            conn.sock.close()
        self._selector.close()
