"""How `faultline serve` runs the ASGI app: uvicorn with the connection guard, a file-descriptor budget that fits
the connection cap, and logging that shows Faultline's own lines next to uvicorn's."""

from __future__ import annotations

import copy
import gc
import logging
import logging.config
import resource
import sys
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from faultline.config import Settings
from faultline.http.guard import ServerLimits, guarded_protocol
from faultline.http.routing import warm_route_table

log = logging.getLogger("faultline.http")

# Descriptors kept for everything that is not a client connection: the listening socket, SQLite files (database,
# WAL and shared memory per pooled connection, the queue's two connections), blob files, source-map fetches, logs.
FD_RESERVE = 256
MAX_BACKLOG = 2048
# How long a thread may keep the GIL while another waits for it (CPython's default: 5 ms). Large capture bodies
# are decoded, counted and parsed in worker threads, CPU-bound; every time the event loop (or a `/_health` thread)
# wants the GIL back it waited up to the whole interval, several times per request. Measured with
# bench/hostile.py, 16 value bombs at concurrency 8: `/_health` answers slower than 100 ms went from 15-19 to 2-3
# of ~120, with no loss of capture ack rate (bench/ingest.py, alternating runs).
GIL_SWITCH_INTERVAL = 0.001


def connection_budget(max_connections: int, soft: int, hard: int) -> tuple[int, int, int]:
    """(soft descriptor limit to set, connection cap, listen backlog) that fit together.

    The event loop accepts everything queued in the listen backlog before it gets to close anything, so the
    descriptors needed are the cap, plus the backlog, plus the reserve. The soft limit is raised as far as the hard
    one allows; when even that is too small, cap and backlog shrink instead, so accept() does not run out of
    descriptors — which is what let 1,100 slow connections make every real request fail under a 1,024 limit."""
    backlog = min(MAX_BACKLOG, max(64, max_connections))
    need = max_connections + backlog + FD_RESERVE
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft, max_connections, backlog
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    target = max(target, soft)
    if target >= need:
        return target, max_connections, backlog
    room = max(2, target - FD_RESERVE)
    cap = max(1, min(max_connections, room * 2 // 3))
    return target, cap, max(1, min(backlog, room - cap))


def apply_connection_budget(max_connections: int) -> tuple[int, int]:
    """Set the descriptor limit; returns (connection cap, backlog) to run with."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted, cap, backlog = connection_budget(max_connections, soft, hard)
    if wanted != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            wanted, cap, backlog = connection_budget(max_connections, soft, soft)
    if cap < max_connections:
        log.warning(
            "FAULTLINE_MAX_CONNECTIONS=%d does not fit the open-file limit (%d); capping connections at %d with a "
            "listen backlog of %d (raise `ulimit -n` to allow more)",
            max_connections,
            wanted,
            cap,
            backlog,
        )
    return cap, backlog


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging plus a `faultline` logger (name shown) on stderr; without it our lines would go to
    Python's last-resort handler: warnings and errors only, with no level prefix."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["faultline"] = {
        "()": "uvicorn.logging.DefaultFormatter",
        "fmt": "%(levelprefix)s %(name)s: %(message)s",
        "use_colors": None,
    }
    config["handlers"]["faultline"] = {
        "formatter": "faultline",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["faultline"] = {"handlers": ["faultline"], "level": level.upper(), "propagate": False}
    return config


def server_limits(settings: Settings, max_connections: int | None = None) -> ServerLimits:
    return ServerLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=float(settings.header_timeout),
        body_timeout=float(settings.body_timeout),
        body_min_rate=settings.body_min_rate,
        max_connections=max_connections or settings.max_connections,
    )


def freeze_startup_heap() -> None:
    """Move everything alive now (modules, the ORM's metadata, the app, its routes) out of the garbage collector's
    reach: it lives as long as the process. Otherwise every full collection walks these ~175 k objects while
    holding the GIL — 20-30 ms on a quiet box, 0.5-0.8 s measured on the loaded 2-core box, long enough for
    `/_health` and every request to wait behind it. Objects created later are collected as usual."""
    gc.collect()
    gc.freeze()


def run(app: Any, settings: Settings) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    warm_route_table(app)
    freeze_startup_heap()
    logging.config.dictConfig(log_config(settings.log_level))
    cap, backlog = apply_connection_budget(settings.max_connections)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),
        proxy_headers=True,
        server_header=False,
        http=guarded_protocol(server_limits(settings, cap)),
        ws="none",  # no WebSocket routes; one protocol path less for hostile input
        backlog=backlog,
    )
