"""Fixtures for symbol tests: a moto S3 endpoint (one process per test module that asks for it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.symbols.support import moto_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url
