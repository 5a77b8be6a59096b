"""A movable clock for the whole test run, to prove that no test depends on the day it runs.

`FAULTLINE_TEST_CLOCK_SHIFT_DAYS=365 pytest …` (or `make test-future`) moves wall-clock time (time.time,
datetime.now, …; not time.monotonic, so timeouts still measure real seconds) forward by that many days in the pytest
process and in every xdist worker (tests/conftest.py calls `start_session_clock()` before anything else is
imported), and `faultline_command()` gives the argv that starts a `faultline` subprocess (live server, worker, CLI)
on the same shifted clock. The product is not touched: the subprocess goes through `launch()` below, which starts
time-machine and then runs the ordinary CLI.

Not shifted: PostgreSQL's and SQLite's own now() (the product never asks the database for the time), Redis' clock,
the moto S3 server and Chromium. They only ever see times the product computed, or their own, never compared with
Python's.

time-machine (not freezegun) because it patches the C-level clock functions, so C extensions and every thread see
the same shifted time, and with `tick=True` time keeps running as the servers need.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import time_machine

SHIFT_ENV = "FAULTLINE_TEST_CLOCK_SHIFT_DAYS"
ROOT = Path(__file__).resolve().parents[2]

_session: time_machine.travel | None = None


def clock_shift(environ: dict[str, str] | None = None) -> dt.timedelta:
    """The shift asked for in the environment; a bad value fails the run loudly rather than testing today's date."""
    raw = (os.environ if environ is None else environ).get(SHIFT_ENV, "").strip()
    if not raw:
        return dt.timedelta(0)
    try:
        days = float(raw)
    except ValueError:
        raise ValueError(f"{SHIFT_ENV} must be a number of days, got {raw!r}") from None
    if not -36500 < days < 36500:
        raise ValueError(f"{SHIFT_ENV} must be within ±100 years, got {raw!r}")
    return dt.timedelta(days=days)


def start_shifted_clock(shift: dt.timedelta) -> None:
    """Move this process' wall clock by `shift` for the rest of its life (a no-op for a zero shift)."""
    global _session
    if not shift or _session is not None:
        return
    _session = time_machine.travel(dt.datetime.now(dt.UTC) + shift, tick=True)
    _session.start()
    time.time()  # time-machine starts ticking at the first reading: read now so shifted = real + shift exactly


def start_session_clock() -> dt.timedelta:
    shift = clock_shift()
    start_shifted_clock(shift)
    return shift


def shifted() -> bool:
    return _session is not None


@contextmanager
def mid_hour() -> Iterator[dt.datetime]:
    """Run the block from hh:30:00 of the current hour, clock ticking: for a test that buckets its own "now" by hour
    and day and then asks the server, which buckets its own later "now"; the hour could otherwise turn in between."""
    now = dt.datetime.now(dt.UTC).replace(minute=30, second=0, microsecond=0)
    with time_machine.travel(now, tick=True):
        time.time()  # start ticking from hh:30:00 now, not at the block's first reading
        yield now


_LAUNCHER = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.support.clock import launch; launch()"


def faultline_command(*args: str) -> list[str]:
    """argv for a `faultline …` subprocess on this run's clock: `python -m faultline …` unless the clock is shifted.

    The shift travels in argv, not in the environment, because live servers and CLI runs get a FAULTLINE_*-free
    environment of their own."""
    shift = clock_shift()
    if not shift:
        return [sys.executable, "-m", "faultline", *args]
    return [sys.executable, "-c", _LAUNCHER, str(shift.total_seconds()), *args]


def launch() -> None:
    """Entry point of the shifted subprocess: `<shift seconds> <faultline args…>`."""
    seconds, *args = sys.argv[1:]
    start_shifted_clock(dt.timedelta(seconds=float(seconds)))
    sys.argv = ["faultline", *args]
    from faultline.cli import main

    main()
