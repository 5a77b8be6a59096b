"""Hostile Sentry envelopes against the real server process: each refused with a 4xx in the error shape and an
`X-Sentry-Error` header, nothing of them stored; afterwards `/_health` is ok and a good envelope is still digested."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx
import pytest
import sqlalchemy as sa

from faultline.db import Database
from faultline.issues.models import Event
from tests.support.live_server import LiveServer, wait_until

pytestmark = pytest.mark.slow


def lines(*parts: object) -> bytes:
    return b"".join((p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n" for p in parts)


EVENT = {"exception": {"values": [{"type": "Fine", "value": "ok"}]}, "platform": "python"}


def test_hostile_envelopes_then_still_healthy(live_server: LiveServer, live_db: Database) -> None:
    creds = live_server.credentials()
    url = f"{live_server.url}/api/{creds['project_id']}/envelope/"
    key = creds["dsn"].split("//", 1)[1].split("@", 1)[0]
    auth = {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, sentry_client=hostile/1.0"}
    event = json.dumps(EVENT).encode()
    good = lines({}, {"type": "event", "length": len(event)}, event)
    nested = b'{"exception":' + b"[" * 3000 + b"]" * 3000 + b"}"
    cases = [
        ("empty body", b"", {}, 400),
        ("truncated gzip", gzip.compress(good)[:-9], {"Content-Encoding": "gzip"}, 400),
        ("gzip bomb", gzip.compress(b" " * (110 * 1024 * 1024), compresslevel=1), {"Content-Encoding": "gzip"}, 413),
        ("header not JSON", b"{oops\n" + good, {}, 400),
        ("header line too long", b'{"x":"' + b"a" * 20_000 + b'"}\n', {}, 413),
        ("negative length", lines({}, {"type": "event", "length": -1}, event), {}, 400),
        ("length not a number", lines({}, {"type": "event", "length": "12"}, event), {}, 400),
        ("length shorter than the item", lines({}, {"type": "event", "length": 10}, event), {}, 400),
        ("item cut short", lines({}, {"type": "event", "length": len(event)}) + event[:20], {}, 400),
        ("item without type", lines({}, {"length": len(event)}, event), {}, 400),
        ("10 000 items", lines({}, *[{"type": "session"}, {"started": "x"}] * 10_000), {}, 413),
        ("invalid JSON event", lines({}, {"type": "event"}, b'{"exception": {"values": [}'), {}, 400),
        ("event is not an object", lines({}, {"type": "event"}, [1, 2, 3]), {}, 400),
        ("event nested 3000 deep", lines({}, {"type": "event"}, nested), {}, 400),
        ("event over 1 MiB", lines({}, {"type": "event"}, {"message": "x" * (1024 * 1024 + 10)}), {}, 413),
        ("invalid client report", lines({}, {"type": "client_report"}, b"{nope"), {}, 400),
        ("unknown encoding", good, {"Content-Encoding": "snappy"}, 415),
    ]
    with httpx.Client(timeout=60) as client:
        for name, body, headers, status in cases:
            response = client.post(url, content=body, headers={**auth, **headers})
            assert response.status_code == status, (name, response.status_code, response.text[:300])
            assert set(response.json()) == {"type", "code", "detail", "attr"}, name
            assert response.headers["X-Sentry-Error"], name
        bad_store = client.post(f"{live_server.url}/api/{creds['project_id']}/store/", content=b"[", headers=auth)
        assert bad_store.status_code == 400 and bad_store.headers["X-Sentry-Error"]

        assert client.get(f"{live_server.url}/_health").json()["status"] == "ok"
        event_id = uuid.uuid4().hex
        unknown_types = lines({"event_id": event_id}, {"type": "event"}, EVENT, {"type": "future_thing"}, {"a": 1})
        accepted = client.post(url, content=unknown_types, headers=auth)
        assert accepted.status_code == 200 and accepted.json() == {"id": event_id}
        stored_via_store = client.post(
            f"{live_server.url}/api/{creds['project_id']}/store/",
            content=json.dumps({**EVENT, "event_id": uuid.uuid4().hex}).encode(),
            headers=auth,
        )
        assert stored_via_store.status_code == 200

    def stored() -> int:
        with live_db.read() as s:
            return int(s.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one())

    assert wait_until(lambda: stored() == 2, 30), stored()

    def report() -> dict | None:
        found = httpx.get(
            f"{live_server.url}/api/environments/{creds['project_id']}/error_tracking/ingestion/",
            headers={"Authorization": f"Bearer {creds['api_key']}"},
            timeout=60,
        ).json()
        return found if found["sentry_items"] else None  # capture counters are flushed every couple of seconds

    found = wait_until(report, 30)
    assert found and found["sentry_items"] == {"event": 2, "other": 1}, found
    assert found["totals"]["accepted"] == 2
