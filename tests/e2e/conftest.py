"""Fixtures of the live-server and browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import launch_chromium


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """The system Chromium under Playwright, one per test module (see tests/support/browser.py)."""
    with launch_chromium() as browser:
        yield browser
