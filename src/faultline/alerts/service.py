"""Alert rules, spike configuration and the delivery log: what the REST API and the UI both call."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.alerts import schemas, spikes
from faultline.alerts.models import (
    Alert,
    AlertAttempt,
    AlertDelivery,
    AlertDestination,
    SpikeConfig,
    SpikeEvent,
)
from faultline.config import Settings
from faultline.db import utcnow
from faultline.errors import NotFound, ValidationFailed
from faultline.ids import parse_uuid

DELIVERY_LOG_ATTEMPTS = 10  # attempts shown per delivery in the log


def limits_of(settings: Settings) -> schemas.Limits:
    return schemas.Limits(
        destinations_max=settings.alert_destinations_max,
        url_max_length=settings.alert_url_max_length,
        smtp_configured=bool(settings.smtp_url),
    )


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def list_alerts_stmt(project_id: int) -> sa.Select[Any]:
    return sa.select(Alert).where(Alert.project_id == project_id).order_by(Alert.created_at.desc(), Alert.id)


def get_alert(session: Session, project_id: int, alert_id: str | uuid.UUID) -> Alert:
    parsed = alert_id if isinstance(alert_id, uuid.UUID) else parse_uuid(alert_id)
    alert = session.get(Alert, parsed) if parsed is not None else None
    if alert is None or alert.project_id != project_id:
        raise NotFound()
    return alert


def destinations_of(session: Session, alert_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[AlertDestination]]:
    found: dict[uuid.UUID, list[AlertDestination]] = {alert_id: [] for alert_id in alert_ids}
    if alert_ids:
        rows = session.execute(
            sa.select(AlertDestination)
            .where(AlertDestination.alert_id.in_(list(alert_ids)))
            .order_by(AlertDestination.created_at, AlertDestination.id)
        ).scalars()
        for row in rows:
            found[row.alert_id].append(row)
    return found


def _apply_destinations(session: Session, alert: Alert, wanted: list[schemas.DestinationIn]) -> dict[uuid.UUID, str]:
    """Replace the alert's destinations by `wanted`, keeping the ones named by id (and their secrets and failure
    counters); returns the secrets of webhook destinations created now (shown once)."""
    current = {d.id: d for d in destinations_of(session, [alert.id])[alert.id]}
    kept: set[uuid.UUID] = set()
    shown: dict[uuid.UUID, str] = {}
    for index, item in enumerate(wanted):
        parsed = parse_uuid(item.id) if item.id else None
        existing = current.get(parsed) if parsed is not None else None
        if item.id and existing is None:
            raise ValidationFailed("Unknown destination.", attr=f"destinations__{index}__id")
        if existing is not None and existing.channel_type == item.channel_type:
            if existing.config != item.config:
                existing.config = item.config
                existing.consecutive_failures = 0
                existing.last_error = None
            kept.add(existing.id)
            continue
        destination = AlertDestination(
            id=uuid.uuid4(), alert_id=alert.id, channel_type=item.channel_type, config=item.config
        )
        if item.channel_type == "webhook":
            destination.secret = new_secret()
            shown[destination.id] = destination.secret
        session.add(destination)
    for destination_id, destination in current.items():
        if destination_id not in kept:
            session.delete(destination)
    session.flush()
    return shown


def _check_threshold(alert: Alert) -> None:
    has_trigger = "event_threshold" in (alert.triggers or [])
    if has_trigger and alert.threshold_events is None:
        raise ValidationFailed("The event threshold trigger needs a threshold {events, minutes}.", attr="threshold")


def create_alert(
    session: Session, project_id: int, body: Any, settings: Settings, *, user_id: int | None
) -> tuple[Alert, dict[uuid.UUID, str]]:
    data = schemas.alert_input(body, limits_of(settings), partial=False)
    count = session.execute(
        sa.select(sa.func.count()).select_from(Alert).where(Alert.project_id == project_id)
    ).scalar_one()
    if count >= settings.alerts_per_project:
        raise ValidationFailed(f"A project may have at most {settings.alerts_per_project} alerts.", attr=None)
    assert data.triggers is not None and data.destinations is not None
    alert = Alert(
        id=uuid.uuid4(),
        project_id=project_id,
        name=data.name,
        enabled=data.enabled if data.enabled is not None else True,
        triggers=data.triggers,
        filters=data.filters,
        throttle_seconds=data.throttle_seconds or 0,
        threshold_events=data.threshold["events"] if data.threshold else None,
        threshold_minutes=data.threshold["minutes"] if data.threshold else None,
        created_by_id=user_id,
    )
    _check_threshold(alert)
    session.add(alert)
    session.flush()
    return alert, _apply_destinations(session, alert, data.destinations)


def update_alert(
    session: Session, project_id: int, alert_id: str, body: Any, settings: Settings
) -> tuple[Alert, dict[uuid.UUID, str]]:
    alert = get_alert(session, project_id, alert_id)
    data = schemas.alert_input(body, limits_of(settings), partial=True)
    if data.name is not None:
        alert.name = data.name
    if data.enabled is not None:
        alert.enabled = data.enabled
    if data.triggers is not None:
        alert.triggers = data.triggers
    if data.filters is not None:
        alert.filters = data.filters
    if data.throttle_seconds is not None:
        alert.throttle_seconds = data.throttle_seconds
    if data.threshold_given:
        alert.threshold_events = data.threshold["events"] if data.threshold else None
        alert.threshold_minutes = data.threshold["minutes"] if data.threshold else None
    _check_threshold(alert)
    alert.updated_at = utcnow()
    shown = _apply_destinations(session, alert, data.destinations) if data.destinations is not None else {}
    return alert, shown


def delete_alert(session: Session, project_id: int, alert_id: str) -> None:
    alert = get_alert(session, project_id, alert_id)
    session.execute(sa.delete(AlertDelivery).where(AlertDelivery.alert_id == alert.id))
    session.execute(sa.delete(AlertDestination).where(AlertDestination.alert_id == alert.id))
    session.delete(alert)


def destination_json(destination: AlertDestination, settings: Settings, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(destination.id),
        "channel_type": destination.channel_type,
        "config": destination.config,
        "failing": destination.consecutive_failures >= settings.alert_failing_after,
        "consecutive_failures": destination.consecutive_failures,
        "last_error": destination.last_error,
        "last_success_at": destination.last_success_at,
    }
    if secret is not None:
        out["secret"] = secret  # only in the answer that created it
    return out


def alert_json(
    alert: Alert,
    destinations: Sequence[AlertDestination],
    settings: Settings,
    secrets_shown: dict[uuid.UUID, str] | None = None,
) -> dict[str, Any]:
    shown = secrets_shown or {}
    threshold = (
        {"events": alert.threshold_events, "minutes": alert.threshold_minutes}
        if alert.threshold_events is not None
        else None
    )
    return {
        "id": str(alert.id),
        "name": alert.name,
        "enabled": alert.enabled,
        "triggers": list(alert.triggers or []),
        "filters": alert.filters,
        "throttle_seconds": alert.throttle_seconds,
        "threshold": threshold,
        "destinations": [destination_json(d, settings, shown.get(d.id)) for d in destinations],
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
    }


# -- delivery log ----------------------------------------------------------------------------------------------


def deliveries_stmt(alert_id: uuid.UUID) -> sa.Select[Any]:
    return (
        sa.select(AlertDelivery)
        .where(AlertDelivery.alert_id == alert_id)
        .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc())
    )


def attempts_of(session: Session, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[AlertAttempt]]:
    found: dict[uuid.UUID, list[AlertAttempt]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        rows = session.execute(
            sa.select(AlertAttempt)
            .where(AlertAttempt.delivery_id.in_(list(delivery_ids)))
            .order_by(AlertAttempt.attempt.desc())
        ).scalars()
        for row in rows:
            if len(found[row.delivery_id]) < DELIVERY_LOG_ATTEMPTS:
                found[row.delivery_id].append(row)
    return found


def delivery_json(
    delivery: AlertDelivery, attempts: Sequence[AlertAttempt], channels: dict[uuid.UUID, str]
) -> dict[str, Any]:
    return {
        "id": str(delivery.id),
        "destination_id": str(delivery.destination_id),
        "channel_type": channels.get(delivery.destination_id),
        "issue_id": str(delivery.issue_id) if delivery.issue_id else None,
        "trigger": delivery.trigger,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at if delivery.status in ("pending", "retrying") else None,
        "created_at": delivery.created_at,
        "delivered_at": delivery.delivered_at,
        "attempt_log": [
            {
                "attempt": a.attempt,
                "status": a.status,
                "http_status": a.http_status,
                "error": a.error,
                "duration_ms": a.duration_ms,
                "created_at": a.created_at,
            }
            for a in attempts
        ],
    }


def delivery_page(session: Session, alert: Alert, *, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    stmt = deliveries_stmt(alert.id)
    count = session.execute(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
    rows = list(session.execute(stmt.limit(limit).offset(offset)).scalars())
    attempts = attempts_of(session, [r.id for r in rows])
    channels = {d.id: d.channel_type for d in destinations_of(session, [alert.id])[alert.id]}
    return int(count), [delivery_json(r, attempts[r.id], channels) for r in rows]


# -- spike detection config and history ---------------------------------------------------------------------------


def spike_config_json(session: Session, project_id: int) -> dict[str, Any]:
    config = spikes.thresholds(session, project_id)
    return {
        "multiplier": config.multiplier,
        "threshold": config.threshold,
        "snooze_duration_minutes": config.snooze_duration_minutes,
    }


def update_spike_config(session: Session, project_id: int, body: Any) -> dict[str, Any]:
    changes = schemas.spike_config(body)
    row = session.get(SpikeConfig, project_id)
    if row is None:
        row = SpikeConfig(
            project_id=project_id,
            multiplier=spikes.DEFAULT_MULTIPLIER,
            threshold=spikes.DEFAULT_THRESHOLD,
            snooze_duration_minutes=spikes.DEFAULT_SNOOZE_MINUTES,
        )
        session.add(row)
    for key, value in changes.items():
        setattr(row, key, value)
    session.flush()
    return spike_config_json(session, project_id)


def spike_events_stmt(project_id: int, issue_id: uuid.UUID | None = None) -> sa.Select[Any]:
    stmt = sa.select(SpikeEvent).where(SpikeEvent.project_id == project_id)
    if issue_id is not None:
        stmt = stmt.where(SpikeEvent.issue_id == issue_id)
    return stmt.order_by(SpikeEvent.detected_at.desc(), SpikeEvent.id.desc())


def spike_event_json(event: SpikeEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "issue_id": str(event.issue_id),
        "detected_at": event.detected_at,
        "bucket": event.bucket,
        "current_bucket_value": event.current_bucket_value,
        "computed_baseline": event.computed_baseline,
    }


def spiking(session: Session, project_id: int, issue_ids: Sequence[uuid.UUID], now: dt.datetime) -> set[uuid.UUID]:
    return spikes.spiking_issue_ids(session, project_id, issue_ids, now)
