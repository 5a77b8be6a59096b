"""The dialect-sensitive parts of the issue-insight features re-run on the real PostgreSQL: issue tags (upserts with
CASE on conflict, tuple IN for regressions), tag filters, releases, breakdowns, local variables in JSONB, comments,
time zones and invitations. The tests are the SQLite ones; only the `settings` fixture differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultline.config import Settings
from tests.conftest import make_settings
from tests.web.test_invites import test_invite_link_creates_the_account_once  # noqa: F401
from tests.web.test_issue_insights import (  # noqa: F401
    python_issue,
    test_breakdowns_by_browser_os_url_environment_sdk_and_users,
    test_comments_in_the_activity_from_the_page_and_the_api,
    test_first_seen_in_seen_in_and_regression_in_a_newer_release,
    test_local_variables_belong_to_their_event_not_to_the_shared_frame,
    test_merge_folds_and_split_rederives_release_tags,
    test_releases_page_lists_event_releases_with_issue_counts,
)
from tests.web.test_issue_list_filters import (  # noqa: F401
    test_culprit_in_list_header_and_api,
    test_filters_by_release_environment_level_and_date,
)
from tests.web.test_time_zone import test_exact_times_follow_the_users_time_zone  # noqa: F401

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> Settings:
    return make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url)
