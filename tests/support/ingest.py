"""Synchronous ingestion for tests: raw SDK events → the real digest pipeline, no HTTP and no queue.

    from tests.support.ingest import ingest, load_sample_events
    outcomes = ingest(db, seed.project, load_sample_events("posthog_python_exception.json"))
    outcomes[0].issue_id, outcomes[0].fingerprint, outcomes[0].status  # "stored" | "duplicate" | …

Events are exactly what an SDK puts in `batch[]`; they go through the same capture document format the queue
carries (`faultline.ingest.posthog_body.queue_payload`), so the pipeline cannot tell the difference. Recorded
samples come back with their times moved to just before now (tests/support/sample_time.py), so tests pass on any
date.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from faultline.accounts.models import Project
from faultline.db import Database
from faultline.ingest.posthog_body import event_uuid, queue_payload
from faultline.pipeline.digest import Incoming, Outcome, Pipeline
from faultline.protocol.seams import RulesProvider, SymbolResolver
from tests.support.sample_time import rebase_sample

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
if not SAMPLES.exists():  # worktree layout: /work/wt/<issue>/tests → /work/shared
    SAMPLES = Path("/work/shared/samples")


def load_sample(name: str) -> Any:
    """A decoded recorded body, its times moved to just before now (tests/support/sample_time.py says why)."""
    return rebase_sample(orjson.loads((SAMPLES / name).read_bytes()), SAMPLES)


def load_sample_events(name: str) -> list[dict[str, Any]]:
    body = load_sample(name)
    return list(body["batch"]) if isinstance(body, dict) else list(body)


def exception_event(
    exc_type: str = "TypeError",
    message: str = "boom",
    *,
    frames: list[dict[str, Any]] | None = None,
    distinct_id: str = "user-1",
    properties: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """A minimal posthog-python-shaped `$exception` event."""
    entry: dict[str, Any] = {"type": exc_type, "value": message, "mechanism": {"type": "generic", "handled": True}}
    if frames is not None:
        entry["stacktrace"] = {"type": "raw", "frames": frames}
    return {
        "event": "$exception",
        "uuid": event_id or str(uuid.uuid4()),
        "distinct_id": distinct_id,
        "timestamp": timestamp or dt.datetime.now(dt.UTC).isoformat(),
        "properties": {
            "$lib": "posthog-python",
            "$lib_version": "7.91.1",
            "$exception_list": [entry],
            **dict(properties or {}),
        },
    }


def python_frame(function: str = "handler", lineno: int = 10, filename: str = "app/views.py", **extra: Any) -> dict:
    return {
        "platform": "python",
        "filename": filename,
        "abs_path": f"/srv/{filename}",
        "function": function,
        "module": filename.removesuffix(".py").replace("/", "."),
        "lineno": lineno,
        "in_app": True,
        "context_line": f"    {function}()",
        "pre_context": ["def f():"],
        "post_context": [""],
        **extra,
    }


def ingest(
    db: Database,
    project: Project | int,
    events: Iterable[Mapping[str, Any]],
    *,
    rules: RulesProvider | None = None,
    symbols: SymbolResolver | None = None,
    sent_at: str | None = None,
    pipeline: Pipeline | None = None,
) -> list[Outcome]:
    project_id = project if isinstance(project, int) else project.id
    now = dt.datetime.now(dt.UTC)
    items = []
    for event in events:
        event = copy.deepcopy(dict(event))
        event["uuid"] = event_uuid(event)
        items.append(Incoming(project_id, queue_payload(event, sent_at=sent_at, received_at=now)))
    pipeline = pipeline or Pipeline(db, rules=rules, symbols=symbols)
    return pipeline.process(items)


def count_json_values(value: Any) -> int:
    """What FAULTLINE_MAX_JSON_VALUES counts, computed on the parsed value: objects, arrays and scalars, not keys."""
    if isinstance(value, list):
        return 1 + sum(count_json_values(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(count_json_values(v) for v in value.values())
    return 1
