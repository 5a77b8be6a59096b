"""Issues, the fingerprints that map events to them, and what the UI/API aggregate per issue.

PostHog keeps events in ClickHouse and maps them to issues at query time through the fingerprint table. We keep
events in the main database with the issue id denormalised onto each row (re-pointed on merge/split), plus counters
maintained by the digest worker so the issue list never scans events.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, JSONType, UTCDateTime, utcnow
from faultline.ids import uuid7


class IssueStatus:
    ACTIVE = "active"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"
    # Legacy PostHog values: readable, never writable through the API.
    ARCHIVED = "archived"
    PENDING_RELEASE = "pending_release"

    WRITABLE = (ACTIVE, RESOLVED, SUPPRESSED)
    ALL = (ACTIVE, RESOLVED, SUPPRESSED, ARCHIVED, PENDING_RELEASE)


SEVERITIES = ("low", "medium", "high", "critical")


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (
        # The issue list: "status tab, newest activity first" is the default query of both UI and API.
        sa.Index("ix_issues_project_status_last_seen", "project_id", "status", "last_seen"),
        sa.Index("ix_issues_project_last_seen", "project_id", "last_seen"),
        sa.Index("ix_issues_project_first_seen", "project_id", "first_seen"),
        sa.Index("ix_issues_project_occurrences", "project_id", "occurrences"),
        sa.Index("ix_issues_project_state_updated_at", "project_id", "state_updated_at"),
        # Other sort orders inside one status tab, and "most users" across statuses (revision 0005).
        sa.Index("ix_issues_project_status_first_seen", "project_id", "status", "first_seen"),
        sa.Index("ix_issues_project_status_occurrences", "project_id", "status", "occurrences"),
        sa.Index("ix_issues_project_status_users", "project_id", "status", "users"),
        sa.Index("ix_issues_project_users", "project_id", "users"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Stamped whenever status/severity/name/description/assignee actually change (PostHog's watermark).
    state_updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), default=IssueStatus.ACTIVE)
    severity: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    name: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # Aggregates maintained by the digest worker (and recomputed after merge/split).
    first_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    occurrences: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    users: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Search helpers written by the digest worker when it creates the issue (and combined on merge): the distinct
    # exception types and messages of the chain, newline-separated (see `faultline.issues.aggregates.search_columns`).
    exception_types: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    exception_values: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # Function and file names of the chain's frames (in-app first), for "file:…" / "function:…" and plain words.
    exception_functions: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    exception_sources: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # The release whose event reopened this resolved issue, when the issue had never been seen in it: the fix
    # shipped and the error came back in a newer build (set by the digest, see `faultline.pipeline.linking`).
    regressed_in: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    # `function in file` of the frame the exception was raised in (`faultline.issues.culprit`), set at creation.
    culprit: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)


class IssueFingerprint(Base):
    """THE fingerprint → issue map (PostHog's ErrorTrackingIssueFingerprintV2)."""

    __tablename__ = "issue_fingerprints"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "fingerprint"),
        sa.Index("ix_issue_fingerprints_project_created_at", "project_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    fingerprint: Mapped[str] = mapped_column(sa.Text)
    # Bumped every time the row is re-pointed to another issue (merge, split, late symbolication).
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssueAssignment(Base):
    """At most one assignee per issue: a user or a role."""

    __tablename__ = "issue_assignments"
    __table_args__ = (
        # "Assigned to me / my role" filters, and cascading user/role deletes on PostgreSQL (revision 0005).
        sa.Index("ix_issue_assignments_user_id", "user_id"),
        sa.Index("ix_issue_assignments_role_id", "role_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id", ondelete="CASCADE"), unique=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    role_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("roles.id", ondelete="CASCADE"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IssueVolumeHourly(Base):
    """Event counts per issue per UTC hour: 24 h sparklines and recent charts."""

    __tablename__ = "issue_volume_hourly"

    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    bucket: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)


class IssueVolumeDaily(Base):
    """Event counts per issue per UTC day: 14 d / 90 d charts without summing hundreds of hourly rows."""

    __tablename__ = "issue_volume_daily"

    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    bucket: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)


class IssueUser(Base):
    """Distinct ids seen per issue; its row count is `issues.users`."""

    __tablename__ = "issue_users"
    # "user:<distinct id>" in the issue search starts from the user's rows.
    __table_args__ = (sa.Index("ix_issue_users_distinct_id", "distinct_id"),)

    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    distinct_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)


class IssueTag(Base):
    """Per issue, the values of the few low-cardinality event facts people filter by — release, environment,
    level — with counts and first/last seen, kept by the digest worker like the other aggregates.

    They answer "first seen in / seen in releases", the Releases page's issue counts and the list's release,
    environment and level filters from an index instead of from the events (which have no per-property index).
    """

    __tablename__ = "issue_tags"
    __table_args__ = (sa.Index("ix_issue_tags_project_key_value", "project_id", "key", "value"),)

    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    first_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """A stored `$exception` event after processing (resolved `$exception_list`, fingerprint, issue)."""

    __tablename__ = "events"
    __table_args__ = (
        # Idempotency: a redelivered queue batch must never store an event twice.
        sa.UniqueConstraint("project_id", "uuid"),
        sa.Index("ix_events_issue_timestamp", "issue_id", "timestamp"),
        sa.Index("ix_events_project_timestamp", "project_id", "timestamp"),
        sa.Index("ix_events_project_fingerprint", "project_id", "fingerprint"),
        # Byte-budget eviction walks a project's unpinned events oldest first (faultline.retention).
        sa.Index("ix_events_project_pinned_timestamp", "project_id", "pinned", "timestamp"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("issues.id"))
    fingerprint: Mapped[str] = mapped_column(sa.Text)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    distinct_id: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    lib: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    lib_version: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    level: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    # What the issue page's breakdowns count (`faultline.issues.breakdowns`), copied out of the properties when the
    # event is stored: reading 500 rows' columns costs nothing, parsing 500 stored JSON documents ~1 ms each.
    browser: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    os: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    url: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Stored size (properties JSON + row overhead), summed into project_storage so the byte budget is cheap to read.
    size_bytes: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    # The event that created or reopened its issue: byte-budget eviction never removes it.
    pinned: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())


class ActivityLog(Base):
    """Who changed what on an issue (PostHog activity log, scope `ErrorTrackingIssue`)."""

    __tablename__ = "activity_log"
    __table_args__ = (sa.Index("ix_activity_log_scope_item", "project_id", "scope", "item_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(sa.String(64))
    item_id: Mapped[str] = mapped_column(sa.String(64))
    activity: Mapped[str] = mapped_column(sa.String(64))
    # Null when the system acted (digest worker reopening an issue, a rule assigning it).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotificationOutbox(Base):
    """Lifecycle events (`$error_tracking_issue_*`) written in the same transaction as the change.

    Delivery (webhooks, e-mail, alerts) reads undelivered rows later, so a change can never be announced without
    having happened, nor happen without being announced.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (sa.Index("ix_notification_outbox_pending", "delivered_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(sa.String(100))
    distinct_id: Mapped[str] = mapped_column(sa.String(200))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    person: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
