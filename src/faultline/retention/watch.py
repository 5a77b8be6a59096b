"""Warnings before storage fills, not after: stored event bytes against `FAULTLINE_STORAGE_BUDGET` and the data
directory's disk, each against `FAULTLINE_STORAGE_WARN_PERCENT`. `/_health` reports them as degradation reasons
(`storage_budget`, `disk_space`) and the UI shows them; the reading is cached a few seconds, since a health check
may come every second and the total is a SUM over the per-project usage rows."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultline.db import Database
from faultline.retention import usage

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class StorageState:
    event_bytes: int
    budget: int  # 0 = no budget
    warn_percent: int
    disk: usage.Disk | None

    @property
    def budget_percent(self) -> float | None:
        return 100.0 * self.event_bytes / self.budget if self.budget else None

    def warnings(self) -> list[dict[str, Any]]:
        if not self.warn_percent:
            return []
        found: list[dict[str, Any]] = []
        percent = self.budget_percent
        if percent is not None and percent >= self.warn_percent:
            found.append(
                {
                    "code": "storage_budget",
                    "detail": f"Stored events use {self.event_bytes} bytes, {percent:.0f}% of FAULTLINE_STORAGE_BUDGET="
                    f"{self.budget} (warning at {self.warn_percent}%): retention evicts the least valuable events "
                    "past 100%; raise the budget to keep more.",
                    "since": None,
                }
            )
        if self.disk is not None and self.disk.percent >= self.warn_percent:
            found.append(
                {
                    "code": "disk_space",
                    "detail": f"The data directory's disk is {self.disk.percent:.0f}% full ({self.disk.used} of "
                    f"{self.disk.total} bytes; warning at {self.warn_percent}%). Set FAULTLINE_STORAGE_BUDGET or "
                    "FAULTLINE_RETENTION_DAYS lower, or free space, before ingestion stops on a full disk.",
                    "since": None,
                }
            )
        return found


class StorageWatch:
    def __init__(self, db: Database, *, budget: int, warn_percent: int, data_dir: Path) -> None:
        self.db = db
        self.budget = budget
        self.warn_percent = warn_percent
        self.data_dir = data_dir
        self._cached: tuple[float, StorageState] | None = None
        self._lock = threading.Lock()

    def state(self) -> StorageState:
        cached = self._cached
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        with self.db.read() as session:
            total = usage.total_bytes(session)
        state = StorageState(total, self.budget, self.warn_percent, usage.disk_usage(self.data_dir))
        with self._lock:
            self._cached = (time.monotonic(), state)
        return state

    def degradations(self) -> list[dict[str, Any]]:
        return self.state().warnings()
