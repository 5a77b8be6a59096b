"""Recorded SDK samples, moved in time so that they were "just recorded" whatever the day the tests run.

The samples in shared/samples carry the times of the day they were recorded (2026-11-22). The product judges event
times against now (the 7-day symbol-repair window, 24 h sparklines, relative date filters), so a test feeding them
unchanged passes only in the week they were recorded. `rebase()` moves every recorded time in a loaded sample by
one offset of whole seconds, the same for every sample in a test process: the newest time recorded in any sample
lands one to two seconds before the moment the first sample was loaded. Offsets between events, and between
`timestamp` and `sent_at` (the skew correction), are kept; so is each value's text form (`Z` or `+00:00`, digits of
the fraction).

What counts as a recorded time: any string that is an ISO-8601 date-time with a UTC offset (`timestamp`,
`sent_at`, `created_at`, `$initialization_time`, Sentry's `started`…, wherever they sit), and epoch seconds under
the keys SDKs use for them (`$time`, Sentry's float `timestamp` / `start_timestamp`).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from pathlib import Path
from typing import Any

_ISO = r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})"
ISO_VALUE = re.compile(rf"^{_ISO}$")
ISO_ANYWHERE = re.compile(_ISO)
EPOCH_KEYS = frozenset({"$time", "timestamp", "start_timestamp"})
EPOCH_SECONDS = (1e9, 1e10)  # 2001 … 2286: epoch seconds, not milliseconds or a counter
TEXT_SUFFIXES = (".json", ".txt", ".envelope")

_offsets: dict[Path, dt.timedelta] = {}


def parse_iso(text: str) -> dt.datetime | None:
    match = ISO_VALUE.match(text)
    if match is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


@functools.cache
def recorded_newest(samples: Path) -> dt.datetime:
    """The latest time written in any text sample: the end of the recording session."""
    newest: dt.datetime | None = None
    for path in sorted(samples.rglob("*")):
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        for match in ISO_ANYWHERE.finditer(path.read_text(errors="replace")):
            moment = parse_iso(match.group(0))
            if moment is not None and (newest is None or moment > newest):
                newest = moment
    if newest is None:
        raise ValueError(f"no recorded time found in {samples}")
    return newest


def sample_offset(samples: Path) -> dt.timedelta:
    """How far recorded times move in this process: fixed at the first call, so every sample loaded later (and a
    sample loaded twice) is moved by the same amount and the times stay comparable."""
    if samples not in _offsets:
        gap = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1) - recorded_newest(samples)
        _offsets[samples] = dt.timedelta(seconds=math.floor(gap.total_seconds()))  # whole seconds: fractions kept
    return _offsets[samples]


def shift_iso(text: str, offset: dt.timedelta) -> str:
    """`text` moved by `offset`, written the way it was written (same zone suffix, same fraction digits)."""
    match = ISO_VALUE.match(text)
    moment = parse_iso(text)
    if match is None or moment is None:
        return text
    fraction, zone = match.group(2), match.group(3)
    moved = moment + offset
    out = moved.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        out += "." + f"{moved.microsecond:06d}"[: len(fraction) - 1]
    return out + zone


def rebase(value: Any, offset: dt.timedelta, key: str | None = None) -> Any:
    """A copy of a decoded sample with every recorded time moved by `offset`."""
    if isinstance(value, dict):
        return {k: rebase(v, offset, k) for k, v in value.items()}
    if isinstance(value, list):
        return [rebase(item, offset) for item in value]
    if isinstance(value, str):
        return shift_iso(value, offset)
    if (
        key in EPOCH_KEYS
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and EPOCH_SECONDS[0] <= value < EPOCH_SECONDS[1]
    ):
        moved = value + offset.total_seconds()
        return round(moved) if isinstance(value, int) else round(moved, 6)
    return value


def rebase_sample(value: Any, samples: Path) -> Any:
    return rebase(value, sample_offset(samples))
