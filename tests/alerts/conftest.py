"""In-process alert tests: receivers on loopback are allowed, retries are immediate."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultline.config import Settings
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path / "data",
        FAULTLINE_ALERT_ALLOW_INTERNAL_URLS="true",
        FAULTLINE_ALERT_RETRY_SECONDS="0",
        FAULTLINE_ALERTS_PER_PROJECT="3",
        FAULTLINE_ALERT_DESTINATIONS_MAX="2",
        FAULTLINE_ALERT_URL_MAX_LENGTH="100",
    )
