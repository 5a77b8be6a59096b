"""Initial schema: every table of the product (spec §1) on SQLite and PostgreSQL.

Index choices (each serves a query that runs on every page view or every digest batch):
* issues (project_id, status, last_seen) — the default issue list: one status tab, most recently seen first;
  (project_id, last_seen | first_seen | occurrences) — the other sort orders across statuses;
  (project_id, state_updated_at) — "what changed since" sync queries.
* issue_fingerprints UNIQUE (project_id, fingerprint) — the digest's fingerprint → issue lookup, and the race guard
  when two batches create the same issue; (issue_id) — listing/merging an issue's fingerprints.
* events UNIQUE (project_id, uuid) — idempotent redelivery; (issue_id, timestamp) — an issue's newest events;
  (project_id, timestamp) — retention and re-symbolication windows; (project_id, fingerprint) — re-homing events
  when a fingerprint moves.
* stack_frames UNIQUE (project_id, raw_id, part) — frame-cache lookups by raw id; (symbol_set_id) — invalidating
  a symbol set's frames on re-upload or delete.
* activity_log (project_id, scope, item_id, created_at) — an issue's history, newest first.
* notification_outbox (delivered_at, created_at) — the delivery loop's "oldest undelivered" scan.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 20:11:46.779273
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Frozen copies of the model column types, so later model changes cannot rewrite history.
TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("first_name", sa.String(length=150), nullable=False),
        sa.Column("last_name", sa.String(length=150), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_staff", sa.Boolean(), nullable=False),
        sa.Column("distinct_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_login", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("uuid", name=op.f("uq_users_uuid")),
    )
    op.create_table(
        "organization_memberships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_memberships_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_organization_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_memberships")),
        sa.UniqueConstraint(
            "organization_id", "user_id", name=op.f("uq_organization_memberships_organization_id_user_id")
        ),
    )
    with op.batch_alter_table("organization_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_memberships_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_organization_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "personal_api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("secure_value", sa.String(length=64), nullable=False),
        sa.Column("mask_value", sa.String(length=20), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("scoped_organizations", JSON, nullable=True),
        sa.Column("scoped_teams", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_personal_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_api_keys")),
        sa.UniqueConstraint("secure_value", name=op.f("uq_personal_api_keys_secure_value")),
    )
    with op.batch_alter_table("personal_api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personal_api_keys_user_id"), ["user_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("api_token", sa.String(length=100), nullable=False),
        sa.Column("autocapture_exceptions_opt_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_projects_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("api_token", name=op.f("uq_projects_api_token")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_projects_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "roles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_roles_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_roles_organization_id_name")),
    )
    with op.batch_alter_table("roles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_roles_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "activity_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("activity", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_activity_log_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_activity_log_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_log")),
    )
    with op.batch_alter_table("activity_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_log_scope_item", ["project_id", "scope", "item_id", "created_at"], unique=False
        )

    op.create_table(
        "assignment_rules",
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("order_key", sa.Integer(), nullable=False),
        sa.Column("disabled_data", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_assignment_rules_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_assignment_rules_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assignment_rules_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_rules")),
    )
    with op.batch_alter_table("assignment_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignment_rules_project_id"), ["project_id"], unique=False)

    op.create_table(
        "autocapture_controls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("library", sa.String(length=24), nullable=False),
        sa.Column("match_type", sa.String(length=8), nullable=False),
        sa.Column("sample_rate", sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column("linked_feature_flag", JSON, nullable=True),
        sa.Column("event_triggers", JSON, nullable=False),
        sa.Column("url_triggers", JSON, nullable=False),
        sa.Column("url_blocklist", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_autocapture_controls_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autocapture_controls")),
        sa.UniqueConstraint("project_id", "library", name=op.f("uq_autocapture_controls_project_id_library")),
    )
    op.create_table(
        "background_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("progress", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_background_jobs_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_background_jobs")),
    )
    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_background_jobs_project_id"), ["project_id"], unique=False)
        batch_op.create_index("ix_background_jobs_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "error_tracking_settings",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("project_rate_limit_value", sa.Integer(), nullable=True),
        sa.Column("project_rate_limit_bucket_size_minutes", sa.Integer(), nullable=True),
        sa.Column("per_issue_rate_limit_value", sa.Integer(), nullable=True),
        sa.Column("per_issue_rate_limit_bucket_size_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_tracking_settings_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_error_tracking_settings")),
    )
    op.create_table(
        "grouping_rules",
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role_id", sa.Uuid(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("order_key", sa.Integer(), nullable=False),
        sa.Column("disabled_data", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_grouping_rules_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_grouping_rules_role_id_roles"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_grouping_rules_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grouping_rules")),
    )
    with op.batch_alter_table("grouping_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grouping_rules_project_id"), ["project_id"], unique=False)

    op.create_table(
        "ingest_counters",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_ingest_counters_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "day", "name", name=op.f("pk_ingest_counters")),
    )
    op.create_table(
        "ingest_errors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_ingest_errors_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_errors")),
    )
    with op.batch_alter_table("ingest_errors", schema=None) as batch_op:
        batch_op.create_index("ix_ingest_errors_project_created", ["project_id", "created_at"], unique=False)

    op.create_table(
        "issues",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("state_updated_at", TS, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("first_seen", TS, nullable=True),
        sa.Column("last_seen", TS, nullable=True),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_issues_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index("ix_issues_project_first_seen", ["project_id", "first_seen"], unique=False)
        batch_op.create_index("ix_issues_project_last_seen", ["project_id", "last_seen"], unique=False)
        batch_op.create_index("ix_issues_project_occurrences", ["project_id", "occurrences"], unique=False)
        batch_op.create_index("ix_issues_project_state_updated_at", ["project_id", "state_updated_at"], unique=False)
        batch_op.create_index("ix_issues_project_status_last_seen", ["project_id", "status", "last_seen"], unique=False)

    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=False),
        sa.Column("distinct_id", sa.String(length=200), nullable=False),
        sa.Column("properties", JSON, nullable=False),
        sa.Column("person", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_notification_outbox_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_notification_outbox_pending", ["delivered_at", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_outbox_project_id"), ["project_id"], unique=False)

    op.create_table(
        "releases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("hash_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("project", sa.Text(), nullable=False),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_releases_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("project_id", "hash_id", name=op.f("uq_releases_project_id_hash_id")),
    )
    op.create_table(
        "role_memberships",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_role_memberships_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_role_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_memberships")),
        sa.UniqueConstraint("role_id", "user_id", name=op.f("uq_role_memberships_role_id_user_id")),
    )
    with op.batch_alter_table("role_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_memberships_role_id"), ["role_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_role_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "suppression_rules",
        sa.Column("sampling_rate", sa.Float(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("order_key", sa.Integer(), nullable=False),
        sa.Column("disabled_data", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_suppression_rules_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression_rules")),
    )
    with op.batch_alter_table("suppression_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppression_rules_project_id"), ["project_id"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("timestamp", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("distinct_id", sa.String(length=200), nullable=True),
        sa.Column("lib", sa.String(length=100), nullable=True),
        sa.Column("lib_version", sa.String(length=100), nullable=True),
        sa.Column("level", sa.String(length=20), nullable=True),
        sa.Column("properties", JSON, nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"], name=op.f("fk_events_issue_id_issues")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_events_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("project_id", "uuid", name=op.f("uq_events_project_id_uuid")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_issue_timestamp", ["issue_id", "timestamp"], unique=False)
        batch_op.create_index("ix_events_project_fingerprint", ["project_id", "fingerprint"], unique=False)
        batch_op.create_index("ix_events_project_timestamp", ["project_id", "timestamp"], unique=False)

    op.create_table(
        "issue_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_assignments_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_issue_assignments_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_issue_assignments_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_issue_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_assignments")),
        sa.UniqueConstraint("issue_id", name=op.f("uq_issue_assignments_issue_id")),
    )
    with op.batch_alter_table("issue_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_assignments_project_id"), ["project_id"], unique=False)

    op.create_table(
        "issue_fingerprints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_fingerprints_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_issue_fingerprints_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_fingerprints")),
        sa.UniqueConstraint("project_id", "fingerprint", name=op.f("uq_issue_fingerprints_project_id_fingerprint")),
    )
    with op.batch_alter_table("issue_fingerprints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_fingerprints_issue_id"), ["issue_id"], unique=False)

    op.create_table(
        "issue_users",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("distinct_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_users_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "distinct_id", name=op.f("pk_issue_users")),
    )
    op.create_table(
        "issue_volume_daily",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("bucket", TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_volume_daily_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "bucket", name=op.f("pk_issue_volume_daily")),
    )
    op.create_table(
        "issue_volume_hourly",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("bucket", TS, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_volume_hourly_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "bucket", name=op.f("pk_issue_volume_hourly")),
    )
    op.create_table(
        "symbol_sets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("storage_ptr", sa.Text(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=True),
        sa.Column("release_id", sa.Uuid(), nullable=True),
        sa.Column("last_used", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_symbol_sets_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_symbol_sets_release_id_releases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_symbol_sets")),
        sa.UniqueConstraint("project_id", "ref", name=op.f("uq_symbol_sets_project_id_ref")),
    )
    with op.batch_alter_table("symbol_sets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_symbol_sets_release_id"), ["release_id"], unique=False)

    op.create_table(
        "stack_frames",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("raw_id", sa.String(length=128), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("symbol_set_id", sa.Uuid(), nullable=True),
        sa.Column("contents", JSON, nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("context", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_stack_frames_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["symbol_set_id"],
            ["symbol_sets.id"],
            name=op.f("fk_stack_frames_symbol_set_id_symbol_sets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stack_frames")),
        sa.UniqueConstraint("project_id", "raw_id", "part", name=op.f("uq_stack_frames_project_id_raw_id_part")),
    )
    with op.batch_alter_table("stack_frames", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stack_frames_symbol_set_id"), ["symbol_set_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stack_frames", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stack_frames_symbol_set_id"))

    op.drop_table("stack_frames")
    with op.batch_alter_table("symbol_sets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_symbol_sets_release_id"))

    op.drop_table("symbol_sets")
    op.drop_table("issue_volume_hourly")
    op.drop_table("issue_volume_daily")
    op.drop_table("issue_users")
    with op.batch_alter_table("issue_fingerprints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_fingerprints_issue_id"))

    op.drop_table("issue_fingerprints")
    with op.batch_alter_table("issue_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_assignments_project_id"))

    op.drop_table("issue_assignments")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_project_timestamp")
        batch_op.drop_index("ix_events_project_fingerprint")
        batch_op.drop_index("ix_events_issue_timestamp")

    op.drop_table("events")
    with op.batch_alter_table("suppression_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppression_rules_project_id"))

    op.drop_table("suppression_rules")
    with op.batch_alter_table("role_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_role_memberships_role_id"))

    op.drop_table("role_memberships")
    op.drop_table("releases")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_outbox_project_id"))
        batch_op.drop_index("ix_notification_outbox_pending")

    op.drop_table("notification_outbox")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index("ix_issues_project_status_last_seen")
        batch_op.drop_index("ix_issues_project_state_updated_at")
        batch_op.drop_index("ix_issues_project_occurrences")
        batch_op.drop_index("ix_issues_project_last_seen")
        batch_op.drop_index("ix_issues_project_first_seen")

    op.drop_table("issues")
    with op.batch_alter_table("ingest_errors", schema=None) as batch_op:
        batch_op.drop_index("ix_ingest_errors_project_created")

    op.drop_table("ingest_errors")
    op.drop_table("ingest_counters")
    with op.batch_alter_table("grouping_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grouping_rules_project_id"))

    op.drop_table("grouping_rules")
    op.drop_table("error_tracking_settings")
    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_background_jobs_status_created")
        batch_op.drop_index(batch_op.f("ix_background_jobs_project_id"))

    op.drop_table("background_jobs")
    op.drop_table("autocapture_controls")
    with op.batch_alter_table("assignment_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_rules_project_id"))

    op.drop_table("assignment_rules")
    with op.batch_alter_table("activity_log", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_log_scope_item")

    op.drop_table("activity_log")
    with op.batch_alter_table("roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_roles_organization_id"))

    op.drop_table("roles")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_organization_id"))

    op.drop_table("projects")
    with op.batch_alter_table("personal_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personal_api_keys_user_id"))

    op.drop_table("personal_api_keys")
    with op.batch_alter_table("organization_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_organization_memberships_organization_id"))

    op.drop_table("organization_memberships")
    op.drop_table("users")
    op.drop_table("organizations")
