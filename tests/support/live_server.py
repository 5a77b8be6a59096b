"""Run the real `faultline serve` process on a free port, for tests that must cross a real socket.

One server per test module is the norm (it costs ~1 s to start): use the module-scoped fixtures in conftest.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx

from tests.support.clock import faultline_command

_BANNER = {
    "project_token": re.compile(r"project token:\s+(phc_\S+)"),
    "api_key": re.compile(r"API key:\s+(phx_\S+)"),
    "login": re.compile(r"login:\s+(\S+) / (\S+)"),
    "project_id": re.compile(r"project:\s+.+\(id (\d+)\)"),
    "dsn": re.compile(r"Sentry DSN:\s+(\S+)"),
}


T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float = 30.0, interval_s: float = 0.25) -> T:
    """Call `check` until it returns something truthy (the digest worker stores events asynchronously); the last
    value when time runs out, for the caller's assertion to show."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    env_overrides: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)
    open_files: int | None = None  # RLIMIT_NOFILE of the server process (soft and hard), e.g. to recreate EMFILE
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAULTLINE_")}
        env.update(
            {
                "FAULTLINE_DATA_DIR": str(self.data_dir),
                "FAULTLINE_PORT": str(self.port),
                "FAULTLINE_HOST": "127.0.0.1",
                "FAULTLINE_LOG_LEVEL": "warning",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env_overrides)
        return env

    def start(self, timeout: float = 30.0) -> str:
        """Start the server, wait for /_health, return what it printed so far."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir / f"server-{self.port}-{int(time.time() * 1000)}.log"
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            faultline_command("serve", *self.extra_args),
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=self._limit_open_files if self.open_files else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/_health", timeout=1.0).status_code == 200:
                    return self.output()
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy in {timeout}s:\n{self.output()}")

    def start_worker(self) -> subprocess.Popen[str]:
        """A `faultline worker` process on this server's configuration (for `--no-worker` servers); stop it with
        SIGTERM to its process group, its output is in `.communicate()`."""
        return subprocess.Popen(
            faultline_command("worker"),
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def credentials(self) -> dict[str, str]:
        out = self.output()
        found: dict[str, str] = {}
        for name, pattern in _BANNER.items():
            match = pattern.search(out)
            if match:
                found[name] = match.group(1)
                if name == "login":
                    found["password"] = match.group(2)
        return found

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def memory_mib(self) -> dict[str, int]:
        """`VmRSS` (now) and `VmHWM` (peak since start) of the server process, in MiB, from /proc/<pid>/status."""
        assert self.process is not None, "server not running"
        found = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) // 1024
        return found


@contextmanager
def running(server: LiveServer) -> Iterator[LiveServer]:
    """Start `server`, stop it afterwards (module fixtures with settings of their own)."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
