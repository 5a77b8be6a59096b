"""Alerts (rules, destinations, delivery log, deliverer lease) and spike detection (buckets, config, state, events).

* error_tracking_alerts (project_id) — alert rules; error_tracking_alert_destinations (alert_id) — where they go.
* error_tracking_alert_deliveries — UNIQUE (destination_id, dedupe_key) is what makes fan-out idempotent;
  (status, next_attempt_at) is the deliverer's "due" scan; (alert_id, created_at) the per-alert log;
  (alert_id, issue_id, event_at) the per-issue throttle check.
* error_tracking_alert_attempts (delivery_id) — attempts of one delivery.
* error_tracking_spike_buckets PK (issue_id, bucket) — the digest's upsert target; (project_id, bucket) for pruning
  and the project baseline. error_tracking_spike_state PK issue_id — the snooze. error_tracking_spike_events
  (project_id, detected_at) — the history endpoint. error_tracking_spike_config PK project_id.
* error_tracking_alert_threshold_fired PK (alert_id, issue_id) — one announcement per threshold crossing.
* alert_leases PK name — one deliverer at a time.

Revision ID: 0010_alerts
Revises: 0009_quotas_rules_retention
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_alerts"
down_revision = "0009_quotas_rules_retention"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_leases",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_leases")),
    )
    op.create_table(
        "error_tracking_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("triggers", JSON, nullable=False),
        sa.Column("filters", JSON, nullable=False),
        sa.Column("throttle_seconds", sa.Integer(), nullable=False),
        sa.Column("threshold_events", sa.Integer(), nullable=True),
        sa.Column("threshold_minutes", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_error_tracking_alerts_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_tracking_alerts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_tracking_alerts")),
    )
    with op.batch_alter_table("error_tracking_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_error_tracking_alerts_project_id"), ["project_id"], unique=False)

    op.create_table(
        "error_tracking_spike_buckets",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("bucket", TS, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_tracking_spike_buckets_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", "bucket", name=op.f("pk_error_tracking_spike_buckets")),
    )
    with op.batch_alter_table("error_tracking_spike_buckets", schema=None) as batch_op:
        batch_op.create_index("ix_error_tracking_spike_buckets_project_bucket", ["project_id", "bucket"], unique=False)

    op.create_table(
        "error_tracking_spike_config",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("multiplier", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("snooze_duration_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_tracking_spike_config_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_error_tracking_spike_config")),
    )
    op.create_table(
        "error_tracking_spike_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("detected_at", TS, nullable=False),
        sa.Column("bucket", TS, nullable=False),
        sa.Column("current_bucket_value", sa.Integer(), nullable=False),
        sa.Column("computed_baseline", sa.Float(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_tracking_spike_events_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_tracking_spike_events")),
    )
    with op.batch_alter_table("error_tracking_spike_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_error_tracking_spike_events_issue_id"), ["issue_id"], unique=False)
        batch_op.create_index(
            "ix_error_tracking_spike_events_project_detected", ["project_id", "detected_at"], unique=False
        )

    op.create_table(
        "error_tracking_spike_state",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("snoozed_until", TS, nullable=False),
        sa.Column("last_spike_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_tracking_spike_state_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_error_tracking_spike_state")),
    )
    with op.batch_alter_table("error_tracking_spike_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_error_tracking_spike_state_project_id"), ["project_id"], unique=False)

    op.create_table(
        "error_tracking_alert_destinations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("channel_type", sa.String(length=20), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_success_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["error_tracking_alerts.id"],
            name=op.f("fk_error_tracking_alert_destinations_alert_id_error_tracking_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_tracking_alert_destinations")),
    )
    with op.batch_alter_table("error_tracking_alert_destinations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_error_tracking_alert_destinations_alert_id"), ["alert_id"], unique=False)

    op.create_table(
        "error_tracking_alert_threshold_fired",
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("fired_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["error_tracking_alerts.id"],
            name=op.f("fk_error_tracking_alert_threshold_fired_alert_id_error_tracking_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "issue_id", name=op.f("pk_error_tracking_alert_threshold_fired")),
    )
    op.create_table(
        "error_tracking_alert_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("destination_id", sa.Uuid(), nullable=False),
        sa.Column("issue_id", sa.Uuid(), nullable=True),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("event_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["error_tracking_alerts.id"],
            name=op.f("fk_error_tracking_alert_deliveries_alert_id_error_tracking_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["error_tracking_alert_destinations.id"],
            name=op.f("fk_error_tracking_alert_deliveries_destination_id_error_tracking_alert_destinations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_error_tracking_alert_deliveries_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_tracking_alert_deliveries")),
        sa.UniqueConstraint(
            "destination_id", "dedupe_key", name=op.f("uq_error_tracking_alert_deliveries_destination_id_dedupe_key")
        ),
    )
    with op.batch_alter_table("error_tracking_alert_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_error_tracking_alert_deliveries_alert", ["alert_id", "created_at"], unique=False)
        batch_op.create_index("ix_error_tracking_alert_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_error_tracking_alert_deliveries_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "ix_error_tracking_alert_deliveries_throttle", ["alert_id", "issue_id", "event_at"], unique=False
        )

    op.create_table(
        "error_tracking_alert_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["error_tracking_alert_deliveries.id"],
            name=op.f("fk_error_tracking_alert_attempts_delivery_id_error_tracking_alert_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_tracking_alert_attempts")),
    )
    with op.batch_alter_table("error_tracking_alert_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_error_tracking_alert_attempts_delivery_id"), ["delivery_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("error_tracking_alert_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_tracking_alert_attempts_delivery_id"))

    op.drop_table("error_tracking_alert_attempts")
    with op.batch_alter_table("error_tracking_alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_error_tracking_alert_deliveries_throttle")
        batch_op.drop_index(batch_op.f("ix_error_tracking_alert_deliveries_project_id"))
        batch_op.drop_index("ix_error_tracking_alert_deliveries_due")
        batch_op.drop_index("ix_error_tracking_alert_deliveries_alert")

    op.drop_table("error_tracking_alert_deliveries")
    op.drop_table("error_tracking_alert_threshold_fired")
    with op.batch_alter_table("error_tracking_alert_destinations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_tracking_alert_destinations_alert_id"))

    op.drop_table("error_tracking_alert_destinations")
    with op.batch_alter_table("error_tracking_spike_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_tracking_spike_state_project_id"))

    op.drop_table("error_tracking_spike_state")
    with op.batch_alter_table("error_tracking_spike_events", schema=None) as batch_op:
        batch_op.drop_index("ix_error_tracking_spike_events_project_detected")
        batch_op.drop_index(batch_op.f("ix_error_tracking_spike_events_issue_id"))

    op.drop_table("error_tracking_spike_events")
    op.drop_table("error_tracking_spike_config")
    with op.batch_alter_table("error_tracking_spike_buckets", schema=None) as batch_op:
        batch_op.drop_index("ix_error_tracking_spike_buckets_project_bucket")

    op.drop_table("error_tracking_spike_buckets")
    with op.batch_alter_table("error_tracking_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_tracking_alerts_project_id"))

    op.drop_table("error_tracking_alerts")
    op.drop_table("alert_leases")
