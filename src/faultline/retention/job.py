"""The retention background service: one pass every `FAULTLINE_RETENTION_INTERVAL` seconds in a daemon thread.

A pass deletes in small transactions (see `faultline.retention.service`), so running it beside the digest costs
the digest short waits for the write lock, never a stall; `bench/retention.py` measures what it costs.
"""

from __future__ import annotations

import logging
import threading

from faultline.retention.service import PassReport, Retention

log = logging.getLogger(__name__)


class RetentionThread:
    def __init__(self, retention: Retention, *, interval: float) -> None:
        self.retention = retention
        self.interval = interval
        self.passes = 0
        self.last: PassReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="faultline-retention", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.last = self.retention.run_pass()
                self.passes += 1
            except Exception:  # a failed pass is retried next interval; it must not kill the thread
                log.exception("retention pass failed")
                continue
            report = self.last
            if report.aged_out or report.evicted or report.symbol_sets:
                log.info(
                    "retention: %d events past retention, %d evicted (%d bytes) for the budget, %d symbol sets",
                    report.aged_out,
                    report.evicted,
                    report.evicted_bytes,
                    report.symbol_sets,
                )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
