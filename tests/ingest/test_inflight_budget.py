"""FAULTLINE_MAX_INFLIGHT_BODY_BYTES: capture bodies in flight together never hold more than the budget. A request
that would not fit is refused with 503 `server_busy` + `Retry-After` before its body is read (declared length) or
as soon as it grows past what is left (chunked); every answered request gives its bytes back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from faultline.config import ConfigError
from faultline.ingest.inflight import BodyBudget
from tests.conftest import make_settings
from tests.ingest.conftest import SAMPLE_TOKEN, Capture, capture_app
from tests.support.ingest import exception_event

BUDGET = 64 * 1024
MAX_BODY = 32 * 1024


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    with capture_app(
        tmp_path_factory.mktemp("inflight") / "data",
        FAULTLINE_MAX_BODY_BYTES=str(MAX_BODY),
        FAULTLINE_MAX_INFLIGHT_BODY_BYTES=str(BUDGET),
    ) as cap:
        yield cap


def budget_of(cap: Capture) -> BodyBudget:
    return cap.client.app.state.ingest.body_budget


def body(size: int) -> bytes:
    raw = json.dumps({"api_key": SAMPLE_TOKEN, "batch": [exception_event()]}).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def chunked(data: bytes, piece: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


def assert_busy(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "server_busy"
    assert set(response.json()) == {"type", "code", "detail", "attr"}
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_body_fits_exactly_what_is_left_and_not_one_byte_more(capped: Capture, streamed: bool) -> None:
    budget = budget_of(capped)
    size = 20_000
    held_by_others = BUDGET - size
    assert budget.try_take(held_by_others)  # other requests in flight hold the rest
    try:
        content = body(size)
        ok = capped.client.post("/batch/", content=chunked(content) if streamed else content)
        assert ok.status_code == 200, ok.text
        assert budget.used == held_by_others  # given back once answered
        assert budget.try_take(1)
        busy = capped.client.post("/batch/", content=chunked(content) if streamed else content)
        assert_busy(busy)
        assert budget.used == held_by_others + 1  # the refused request gave back what it had taken
        budget.give_back(1)
    finally:
        budget.give_back(held_by_others)
    assert budget.used == 0


def test_refused_and_failed_requests_give_their_bytes_back(capped: Capture) -> None:
    budget = budget_of(capped)
    before = capped.pending()
    assert capped.client.post("/batch/", content=b"{not json" + b" " * 1000).status_code == 400
    assert capped.client.post("/batch/", content=b"x" * (MAX_BODY + 1)).status_code == 413
    assert capped.client.post("/batch/", content=chunked(b"x" * (MAX_BODY + 1))).status_code == 413
    wrong_token = json.dumps({"api_key": "phc_nobody", "batch": [exception_event()]}).encode()
    assert capped.client.post("/batch/", content=wrong_token).status_code == 401
    assert budget.used == 0 and capped.pending() == before


def test_the_budget_may_not_be_smaller_than_one_body(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="FAULTLINE_MAX_INFLIGHT_BODY_BYTES"):
        make_settings(
            tmp_path, FAULTLINE_MAX_BODY_BYTES=str(MAX_BODY), FAULTLINE_MAX_INFLIGHT_BODY_BYTES=str(MAX_BODY - 1)
        )
    assert (
        make_settings(
            tmp_path, FAULTLINE_MAX_BODY_BYTES=str(MAX_BODY), FAULTLINE_MAX_INFLIGHT_BODY_BYTES=str(MAX_BODY)
        ).max_inflight_body_bytes
        == MAX_BODY
    )
