"""Shared activity/outbox writers produce the documented shapes."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from faultline.db import Database
from faultline.issues import lifecycle
from faultline.issues.models import ActivityLog, Issue, NotificationOutbox
from tests.conftest import Tenant


def test_activity_and_outbox_rows(db: Database, seed: Tenant) -> None:
    with db.write() as session:
        issue = Issue(project_id=seed.project.id, name="TypeError", description="boom", status="resolved")
        session.add(issue)
        session.flush()
        lifecycle.record_activity(
            session,
            project_id=seed.project.id,
            issue_id=issue.id,
            activity="updated",
            user_id=seed.user.id,
            name=issue.name,
            changes=[lifecycle.change("status", "active", "resolved")],
        )
        props = lifecycle.issue_properties(
            name=issue.name,
            description=issue.description,
            status=issue.status,
            severity=None,
            first_seen=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            fingerprint="abc",
            assignee={"type": "user", "id": 7},
        )
        lifecycle.emit(
            session,
            project_id=seed.project.id,
            event=lifecycle.ISSUE_RESOLVED,
            issue_id=issue.id,
            properties=props,
            person=lifecycle.person_of(seed.user),
        )
    with db.read() as session:
        entry = session.execute(sa.select(ActivityLog)).scalar_one()
        assert entry.scope == "ErrorTrackingIssue" and entry.item_id == str(issue.id)
        assert entry.detail["changes"] == [
            {
                "type": "ErrorTrackingIssue",
                "action": "changed",
                "field": "status",
                "before": "active",
                "after": "resolved",
            }
        ]
        note = session.execute(sa.select(NotificationOutbox)).scalar_one()
        assert note.event == "$error_tracking_issue_resolved" and note.distinct_id == str(issue.id)
        assert note.properties["status"] == "Resolved"
        assert note.properties["assignee"] == '{"type":"user","id":7}'
        assert note.person["email"] == seed.user.email
        assert note.delivered_at is None
