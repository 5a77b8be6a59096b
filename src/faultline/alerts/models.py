"""Tables of the alerts domain: alert rules, their destinations, the delivery log, spike detection state.

* `error_tracking_alerts` — one rule: triggers, property filters (the rules' filter language), throttle.
* `error_tracking_alert_destinations` — where an alert goes (Slack, Discord, Teams, webhook, e-mail) and whether it
  keeps failing (`consecutive_failures`).
* `error_tracking_alert_deliveries` — one notification for one destination, unique per (destination, dedupe key),
  so a re-read outbox row or a restarted deliverer never sends twice what was already sent.
* `error_tracking_alert_attempts` — every attempt to send a delivery (status, error, duration): the delivery log.
* `error_tracking_spike_*` — 5-minute counts per issue over the last hour, the per-project thresholds, the per-issue
  snooze and the history of detected spikes.
* `alert_leases` — one deliverer at a time across processes (a row with an expiry works on SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from faultline.db import Base, JSONType, UTCDateTime, utcnow
from faultline.ids import uuid7

MATCH_ALL: dict[str, Any] = {"type": "AND", "values": []}


class Alert(Base):
    __tablename__ = "error_tracking_alerts"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(400))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    triggers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=lambda: dict(MATCH_ALL))
    throttle_seconds: Mapped[int] = mapped_column(sa.Integer, default=0)
    # "N events in M minutes" (trigger `event_threshold`): both null unless that trigger is chosen.
    threshold_events: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    threshold_minutes: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AlertDestination(Base):
    __tablename__ = "error_tracking_alert_destinations"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    alert_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("error_tracking_alerts.id", ondelete="CASCADE"), index=True
    )
    channel_type: Mapped[str] = mapped_column(sa.String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Webhook signing key: shown once when the destination is created, kept to sign every delivery.
    secret: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertDelivery(Base):
    __tablename__ = "error_tracking_alert_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("destination_id", "dedupe_key"),
        sa.Index("ix_error_tracking_alert_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_error_tracking_alert_deliveries_alert", "alert_id", "created_at"),
        sa.Index("ix_error_tracking_alert_deliveries_throttle", "alert_id", "issue_id", "event_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("error_tracking_alerts.id", ondelete="CASCADE"))
    destination_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("error_tracking_alert_destinations.id", ondelete="CASCADE")
    )
    issue_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    trigger: Mapped[str] = mapped_column(sa.String(40))
    # alert:issue:trigger:occurrence (the outbox row): the same occurrence is never delivered twice.
    dedupe_key: Mapped[str] = mapped_column(sa.String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")  # pending | retrying | success | failed
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    event_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)  # when the lifecycle change happened
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AlertAttempt(Base):
    __tablename__ = "error_tracking_alert_attempts"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("error_tracking_alert_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(20))  # success | error
    http_status: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpikeConfig(Base):
    """PostHog's `ErrorTrackingSpikeDetectionConfig`; a project without a row uses the defaults."""

    __tablename__ = "error_tracking_spike_config"

    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    multiplier: Mapped[float] = mapped_column(sa.Float, default=10.0)
    threshold: Mapped[int] = mapped_column(sa.Integer, default=500)
    snooze_duration_minutes: Mapped[int] = mapped_column(sa.Integer, default=10)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SpikeBucket(Base):
    """Events of one issue in one 5-minute bucket; rows older than the window are pruned by the digest."""

    __tablename__ = "error_tracking_spike_buckets"
    __table_args__ = (sa.Index("ix_error_tracking_spike_buckets_project_bucket", "project_id", "bucket"),)

    issue_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    bucket: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(sa.Integer, default=0)


class SpikeState(Base):
    """The per-issue snooze: no second spike of the issue is announced before `snoozed_until`."""

    __tablename__ = "error_tracking_spike_state"

    issue_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    snoozed_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_spike_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SpikeEvent(Base):
    __tablename__ = "error_tracking_spike_events"
    __table_args__ = (sa.Index("ix_error_tracking_spike_events_project_detected", "project_id", "detected_at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    issue_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    bucket: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    current_bucket_value: Mapped[int] = mapped_column(sa.Integer)
    computed_baseline: Mapped[float] = mapped_column(sa.Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThresholdWindow(Base):
    """When an ("N events in M minutes") alert last fired for an issue, so one crossing is announced once."""

    __tablename__ = "error_tracking_alert_threshold_fired"

    alert_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("error_tracking_alerts.id", ondelete="CASCADE"), primary_key=True
    )
    issue_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    fired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AlertLease(Base):
    __tablename__ = "alert_leases"

    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
