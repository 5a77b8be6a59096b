"""Imports every domain's tables so `Base.metadata` is complete (Alembic, tests, `create_all`)."""

from faultline.accounts.dsn import DsnKey
from faultline.accounts.models import (
    Organization,
    OrganizationMembership,
    PersonalAPIKey,
    Project,
    Role,
    RoleMembership,
    User,
)
from faultline.alerts.models import (
    Alert,
    AlertAttempt,
    AlertDelivery,
    AlertDestination,
    AlertLease,
    SpikeBucket,
    SpikeConfig,
    SpikeEvent,
    SpikeState,
    ThresholdWindow,
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
from faultline.quotas.models import IssueRateWindow, NewIssueWindow
from faultline.releases.models import Release
from faultline.retention.models import ProjectStorage
from faultline.rules.models import (
    AssignmentRule,
    BypassRule,
    ConfigRevision,
    GroupingRule,
    SeverityRule,
    SuppressionRule,
)
from faultline.symbols.models import SentryChunk, StackFrame, SymbolSet
from faultline.web.models import LoginThrottle, WebSession

metadata = Base.metadata

__all__ = [
    "ActivityLog",
    "Alert",
    "AlertAttempt",
    "AlertDelivery",
    "AlertDestination",
    "AlertLease",
    "AssignmentRule",
    "AutocaptureControls",
    "BackgroundJob",
    "Base",
    "BypassRule",
    "ConfigRevision",
    "DsnKey",
    "ErrorTrackingSettings",
    "Event",
    "GroupingRule",
    "IngestCounter",
    "IngestError",
    "Issue",
    "IssueAssignment",
    "IssueFingerprint",
    "IssueRateWindow",
    "IssueUser",
    "IssueVolumeDaily",
    "IssueVolumeHourly",
    "LoginThrottle",
    "NewIssueWindow",
    "NotificationOutbox",
    "Organization",
    "OrganizationMembership",
    "PersonalAPIKey",
    "Project",
    "ProjectStorage",
    "Release",
    "Role",
    "RoleMembership",
    "SentryChunk",
    "SeverityRule",
    "SpikeBucket",
    "SpikeConfig",
    "SpikeEvent",
    "SpikeState",
    "StackFrame",
    "SuppressionRule",
    "SymbolSet",
    "ThresholdWindow",
    "User",
    "WebSession",
    "metadata",
]
