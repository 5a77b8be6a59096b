"""Imports every domain's tables so `Base.metadata` is complete (Alembic, tests, `create_all`)."""

from faultline.accounts.models import (
    Organization,
    OrganizationMembership,
    PersonalAPIKey,
    Project,
    Role,
    RoleMembership,
    User,
)
from faultline.autocapture.models import AutocaptureControls, ErrorTrackingSettings
from faultline.db import Base
from faultline.ingest.models import IngestCounter, IngestError
from faultline.issues.models import (
    ActivityLog,
    Event,
    Issue,
    IssueAssignment,
    IssueFingerprint,
    IssueUser,
    IssueVolumeDaily,
    IssueVolumeHourly,
    NotificationOutbox,
)
from faultline.jobs.models import BackgroundJob
from faultline.releases.models import Release
from faultline.rules.models import AssignmentRule, ConfigRevision, GroupingRule, SuppressionRule
from faultline.symbols.models import StackFrame, SymbolSet
from faultline.web.models import LoginAttempt, WebSession

metadata = Base.metadata

__all__ = [
    "ActivityLog",
    "AssignmentRule",
    "AutocaptureControls",
    "BackgroundJob",
    "Base",
    "ConfigRevision",
    "ErrorTrackingSettings",
    "Event",
    "GroupingRule",
    "IngestCounter",
    "IngestError",
    "Issue",
    "IssueAssignment",
    "IssueFingerprint",
    "IssueUser",
    "IssueVolumeDaily",
    "IssueVolumeHourly",
    "LoginAttempt",
    "NotificationOutbox",
    "Organization",
    "OrganizationMembership",
    "PersonalAPIKey",
    "Project",
    "Release",
    "Role",
    "RoleMembership",
    "StackFrame",
    "SuppressionRule",
    "SymbolSet",
    "User",
    "WebSession",
    "metadata",
]
