"""Stage 0's entry point: a queued payload → `protocol.Event`, by the protocol the SDK spoke.

Capture queues PostHog documents (`{"event": …}`) and Sentry ingestion queues `{"sentry": …}`; each has its mapper
(`faultline.pipeline.parse`, `faultline.pipeline.sentry`), and every later stage sees only the typed event.
"""

from __future__ import annotations

from faultline.pipeline import parse, sentry
from faultline.protocol import Event


def parse_payload(project_id: int, payload: bytes) -> Event:
    doc = parse.load_document(payload)
    if isinstance(doc, dict) and "sentry" in doc:
        return sentry.parse_document(project_id, doc)
    return parse.parse_document(project_id, doc)
