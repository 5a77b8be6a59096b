"""Hostile input on every symbol-set endpoint: never a 500, always PostHog's error shape (bounded fuzzing)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.symbols.test_api import base

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["symbol_sets", "chunk_ids", "release_id", "force", "skip_on_conflict", "content_hashes", "ids", "content_hash"]
)
bodies = st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=5))
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) >= {"type", "code", "detail", "attr"}


@FUZZ
@given(
    body=bodies,
    endpoint=st.sampled_from(["bulk_check_upload", "bulk_start_upload", "bulk_finish_upload", "bulk_delete"]),
)
def test_json_endpoints(client, seed, body, endpoint: str) -> None:
    check(client.post(f"{base(seed)}/{endpoint}/", json=body, headers=seed.headers))


@FUZZ
@given(body=bodies, item=st.text(max_size=60))
def test_item_endpoints(client, seed, body, item: str) -> None:
    item = quote(item, safe="")
    for path in (f"{item}/", f"{item}/download/", f"{uuid.uuid4()}/finish_upload/"):
        url = f"{base(seed)}/{path}"
        check(client.get(url, headers=seed.headers))
        check(client.put(url, json=body, headers=seed.headers))


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["ref", "search", "status", "order_by", "limit", "offset", "chunk_id", "release_id"]),
        st.text(max_size=30),
        max_size=4,
    ),
    raw=st.binary(max_size=300),
)
def test_queries_and_raw_bodies(client, seed, query: dict[str, str], raw: bytes) -> None:
    check(client.get(f"{base(seed)}/", params=query, headers=seed.headers))
    check(client.post(f"{base(seed)}/", params=query, content=raw, headers=seed.headers))
    check(client.post(f"{base(seed)}/start_upload/", params=query, headers=seed.headers))
    check(
        client.post(
            "/_blobs/upload/",
            content=raw,
            headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        )
    )
