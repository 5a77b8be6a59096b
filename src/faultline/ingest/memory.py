"""Give memory back to the operating system after large capture requests.

Why this is needed (glibc): the first time a large block (a body, a decoded buffer, a list of a million items) is
freed, glibc raises its mmap threshold to that block's size (up to 32 MiB) and its trim threshold to twice that.
From then on, large buffers are carved out of the heaps (one per thread that parsed something: the worker threads
that decode large bodies) instead of being mmapped, and a heap only shrinks when more than the trim threshold is
free at its very top. After a burst of large or hostile bodies the process therefore kept its peak size
(109 MiB idle → 880 MiB, issue 11) although Python had freed everything. Two measures, both needed (four threads
parsing 20 MiB bodies, then idle: 136 MiB resident with glibc's defaults even after `malloc_trim`, 65 MiB with a
fixed threshold alone, 16 MiB with both):

* `configure_allocator()` pins the mmap threshold at 1 MiB (which also stops the dynamic adjustment), so big
  buffers are always mmapped and go back to the OS the moment they are freed;
* `MemoryReturner` calls `malloc_trim(0)` after large requests, which releases the free pages left between the
  mid-sized blocks (dict tables, long strings) inside every heap.

Why throttled and off the request path: a trim walks every arena under its lock, milliseconds over a few hundred
MiB. A background thread trims at most once per `interval` seconds and only after a large request finished
(`note_large`), so small-body traffic never pays for it. With a C library that has neither call (musl, macOS)
both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def _c_function(name: str, argtypes: list[type], restype: type) -> Callable[..., int] | None:
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = restype
    return function


_MALLOC_TRIM = _c_function("malloc_trim", [ctypes.c_size_t], ctypes.c_int)
_MALLOPT = _c_function("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 1024 * 1024


def configure_allocator() -> bool:
    """Pin glibc's mmap threshold (see the module docstring); False where that is not possible."""
    return _MALLOPT is not None and bool(_MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def trim_now() -> bool:
    """Release free heap pages to the OS; False where the C library has no `malloc_trim`."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


class MemoryReturner:
    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.trims = 0
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def note_large(self) -> None:
        """A large decode just released its memory: trim soon."""
        self._wanted.set()

    def start(self) -> None:
        configure_allocator()
        if _MALLOC_TRIM is None or self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="faultline-memory-returner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            # Wait out the interval first: requests of the same burst still finishing are covered by one trim.
            if self._stopping.wait(self.interval):
                return
            self._wanted.clear()
            try:
                trim_now()
                self.trims += 1
            except Exception:  # never let a trim failure take down the thread that keeps memory in check
                log.exception("malloc_trim failed")
