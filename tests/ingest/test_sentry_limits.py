"""The Sentry envelope limits at their edges (limit exactly → accepted, one more → 413), over HTTP in process, and
the envelope reader's rules on their own: lengths, blank lines, a missing final newline, tolerated overlong
`length`s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts import dsn as dsn_keys
from faultline.app import create_app
from faultline.config import ConfigError, load_settings
from faultline.ingest import envelope
from faultline.runtime import Runtime
from tests.conftest import Tenant, make_settings, make_tenant

MAX_ITEMS = 3
MAX_HEADER = 300


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Tenant, str]]:
    settings = make_settings(
        tmp_path_factory.mktemp("sentry") / "data",
        FAULTLINE_SENTRY_MAX_ITEMS=str(MAX_ITEMS),
        FAULTLINE_SENTRY_MAX_HEADER_BYTES=str(MAX_HEADER),
        FAULTLINE_MAX_EVENT_BYTES=str(2048),
    )
    runtime = Runtime.for_server(settings)
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            tenant = make_tenant(runtime.db, email="limits@acme.test")
            with runtime.db.read() as session:
                key = session.execute(dsn_keys.list_stmt(tenant.project.id)).scalars().one().public_key
            yield client, tenant, key
    finally:
        runtime.close()


def env(*parts: Any) -> bytes:
    return b"".join((p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n" for p in parts)


def post(limited: tuple[TestClient, Tenant, str], body: bytes) -> Any:
    client, tenant, key = limited
    return client.post(f"/api/{tenant.project.id}/envelope/?sentry_key={key}", content=body)


def sessions(n: int) -> list[Any]:
    return [part for _ in range(n) for part in ({"type": "session"}, {"sid": "x"})]


def test_item_count_edge(limited: tuple[TestClient, Tenant, str]) -> None:
    assert post(limited, env({}, *sessions(MAX_ITEMS))).status_code == 200
    refused = post(limited, env({}, *sessions(MAX_ITEMS + 1)))
    assert refused.status_code == 413 and "FAULTLINE_SENTRY_MAX_ITEMS" in refused.headers["X-Sentry-Error"]


def test_header_line_edge(limited: tuple[TestClient, Tenant, str]) -> None:
    def header(size: int) -> bytes:
        raw = b'{"pad":""}'
        return raw[:-2] + b"x" * (size - len(raw)) + b'"}'

    assert len(header(MAX_HEADER)) == MAX_HEADER
    assert post(limited, header(MAX_HEADER) + b"\n").status_code == 200
    refused = post(limited, header(MAX_HEADER + 1) + b"\n")
    assert refused.status_code == 413 and "FAULTLINE_SENTRY_MAX_HEADER_BYTES" in refused.json()["detail"]


def test_event_size_edge(limited: tuple[TestClient, Tenant, str]) -> None:
    def event(size: int) -> bytes:
        raw = json.dumps({"message": "m", "pad": ""}).encode()
        return raw[:-2] + b"x" * (size - len(raw)) + b'"}'

    assert post(limited, env({}, {"type": "event"}, event(2048))).status_code == 200
    refused = post(limited, env({}, {"type": "event"}, event(2049)))
    assert refused.status_code == 413 and refused.json()["code"] == "payload_too_large"


def test_config_bounds(tmp_path: Path) -> None:
    base = {"FAULTLINE_DATA_DIR": str(tmp_path)}
    assert load_settings({**base, "FAULTLINE_SENTRY_MAX_ITEMS": "1"}).sentry_max_items == 1
    assert load_settings(base).sentry_max_items == 100
    assert load_settings(base).sentry_max_header_bytes == 16384
    with pytest.raises(ConfigError):
        load_settings({**base, "FAULTLINE_SENTRY_MAX_ITEMS": "0"})
    with pytest.raises(ConfigError):
        load_settings({**base, "FAULTLINE_SENTRY_MAX_HEADER_BYTES": "255"})


def parse(body: bytes) -> envelope.Envelope:
    return envelope.parse(body, max_items=10, max_header_bytes=1000)


def test_reader_lengths_lines_and_tolerance() -> None:
    both = parse(b'{"event_id":"a"}\n{"type":"attachment","length":3}\na\nb\n\n{"type":"event"}\n{"x":1}')
    assert [(i.type, bytes(i.payload)) for i in both.items] == [("attachment", b"a\nb"), ("event", b'{"x":1}')]
    assert both.headers == {"event_id": "a"}
    assert parse(b"{}").items == [] and parse(b"{}\n\n\n").items == []
    # A `length` past the end: read as a line, and flagged (the recorded fixture needs it).
    overlong = parse(b'{}\n{"type":"event","length":50}\n{"x":1}\n')
    assert bytes(overlong.items[0].payload) == b'{"x":1}' and overlong.items[0].length_mismatch
    for bad in (
        b"[]\n",
        b'{}\n{"type":"event","length":2}\n{"x":1}\n',
        b'{}\n{"type":"event","length":true}\n{}\n',
        b'{}\n{"type":""}\n{}\n',
        b"{}\nnot json\n",
    ):
        with pytest.raises(envelope.EnvelopeError) as info:
            parse(bad)
        assert info.value.status == 400, bad


def test_store_endpoint_and_unknown_project(limited: tuple[TestClient, Tenant, str]) -> None:
    client, tenant, key = limited
    stored = client.post(
        f"/api/{tenant.project.id}/store/",
        content=json.dumps({"message": "legacy"}).encode(),
        headers={"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}"},
    )
    assert stored.status_code == 200 and len(stored.json()["id"]) == 32
    assert client.post(f"/api/{tenant.project.id + 100}/store/?sentry_key={key}", content=b"{}").status_code == 403
    with client.app.state.db.read() as session:  # type: ignore[attr-defined]
        assert session.execute(sa.select(dsn_keys.DsnKey.enabled)).scalars().all() == [True]
