"""Spike detection and "N events in M minutes" thresholds, computed in the digest's batch transaction.

PostHog's cymbal keeps 5-minute buckets per issue for the last hour; an issue spikes when its current bucket is
≥ `threshold` and > baseline × `multiplier`, where the baseline is the mean of the issue's non-empty earlier buckets
or, for an issue without any, the project's mean per-issue bucket (events ÷ distinct issues, averaged over its
buckets). A spike snoozes the issue for `snooze_duration_minutes`. We keep the buckets in a table instead of Redis
so both topologies share one implementation, and feed it only from the rows the digest just stored (no extra scan).

Times are the events' own (clamped to the digest's `now`): a replayed backlog is bucketed where it happened, and a
test can place a steady hour and a burst without waiting for the wall clock.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.alerts.models import Alert, SpikeBucket, SpikeConfig, SpikeEvent, SpikeState, ThresholdWindow
from faultline.db import excluded_of, insert_for, table_of
from faultline.issues import lifecycle
from faultline.issues.models import Issue

ISSUE_SPIKING = "$error_tracking_issue_spiking"
ISSUE_THRESHOLD = "$error_tracking_issue_threshold"

BUCKET = dt.timedelta(minutes=5)
BUCKETS = 12  # one hour
WINDOW = BUCKET * BUCKETS

DEFAULT_MULTIPLIER = 10.0
DEFAULT_THRESHOLD = 500
DEFAULT_SNOOZE_MINUTES = 10


@dataclass(frozen=True)
class StoredEvent:
    """What the digest tells alerts about one stored event."""

    issue_id: uuid.UUID
    timestamp: dt.datetime
    uuid: uuid.UUID


@dataclass(frozen=True)
class Thresholds:
    multiplier: float = DEFAULT_MULTIPLIER
    threshold: int = DEFAULT_THRESHOLD
    snooze_duration_minutes: int = DEFAULT_SNOOZE_MINUTES


def bucket_of(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


def thresholds(session: Session, project_id: int) -> Thresholds:
    row = session.get(SpikeConfig, project_id)
    if row is None:
        return Thresholds()
    return Thresholds(row.multiplier, row.threshold, row.snooze_duration_minutes)


def is_spike(current: int, baseline: float, config: Thresholds) -> bool:
    return current >= config.threshold and current > baseline * config.multiplier


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@functools.cache
def _bucket_upsert(dialect_name: str) -> Any:
    """Built once per dialect: every digest batch runs it."""
    table = table_of(SpikeBucket)
    stmt = insert_for(dialect_name, table)
    return stmt.on_conflict_do_update(
        index_elements=["issue_id", "bucket"], set_={"count": table.c["count"] + excluded_of(table)["count"]}
    )


def record_batch(session: Session, project_id: int, stored: Sequence[StoredEvent], now: dt.datetime) -> None:
    """Count the stored events into their buckets, then announce spikes and crossed thresholds (outbox rows)."""
    window_start = bucket_of(now) - WINDOW + BUCKET
    counts: dict[tuple[uuid.UUID, dt.datetime], int] = defaultdict(int)
    latest: dict[uuid.UUID, StoredEvent] = {}
    for event in stored:
        moment = min(_as_utc(event.timestamp), now)
        if moment < window_start:
            continue  # older than the hour the detector looks at
        counts[(event.issue_id, bucket_of(moment))] += 1
        if event.issue_id not in latest or moment >= latest[event.issue_id].timestamp:
            latest[event.issue_id] = StoredEvent(event.issue_id, moment, event.uuid)
    table = table_of(SpikeBucket)
    session.execute(sa.delete(table).where(table.c.project_id == project_id, table.c.bucket < window_start))
    if not counts:
        return
    stmt = _bucket_upsert(session.get_bind().dialect.name)
    # Sorted: concurrent PostgreSQL workers lock bucket rows in one order.
    rows = [
        {"issue_id": i, "bucket": b, "project_id": project_id, "count": n}
        for (i, b), n in sorted(counts.items(), key=lambda x: (str(x[0][0]), x[0][1]))
    ]
    session.execute(stmt, rows)

    series = _series(session, list(latest), window_start)
    _detect_spikes(session, project_id, latest, series, window_start)
    _check_thresholds(session, project_id, latest, series)


def _series(
    session: Session, issue_ids: list[uuid.UUID], window_start: dt.datetime
) -> dict[uuid.UUID, dict[dt.datetime, int]]:
    table = table_of(SpikeBucket)
    found: dict[uuid.UUID, dict[dt.datetime, int]] = defaultdict(dict)
    result = session.execute(
        sa.select(table.c.issue_id, table.c.bucket, table.c["count"]).where(
            table.c.issue_id.in_(issue_ids), table.c.bucket >= window_start
        )
    )
    for issue_id, bucket, count in result:
        found[issue_id][_as_utc(bucket)] = int(count)
    return found


def _project_baseline(session: Session, project_id: int, window_start: dt.datetime, before: dt.datetime) -> float:
    """Mean over the project's earlier buckets of (events ÷ distinct issues in that bucket)."""
    table = table_of(SpikeBucket)
    rows = session.execute(
        sa.select(sa.func.sum(table.c["count"]), sa.func.count())
        .where(table.c.project_id == project_id, table.c.bucket >= window_start, table.c.bucket < before)
        .group_by(table.c.bucket)
    ).all()
    per_bucket = [int(total) / int(issues) for total, issues in rows if issues]
    return sum(per_bucket) / len(per_bucket) if per_bucket else 0.0


def baseline_of(series: dict[dt.datetime, int], current: dt.datetime) -> float | None:
    earlier = [n for b, n in series.items() if b < current and n > 0]
    return sum(earlier) / len(earlier) if earlier else None


def _detect_spikes(
    session: Session,
    project_id: int,
    latest: dict[uuid.UUID, StoredEvent],
    series: dict[uuid.UUID, dict[dt.datetime, int]],
    window_start: dt.datetime,
) -> None:
    config = thresholds(session, project_id)
    candidates: list[tuple[StoredEvent, dt.datetime, int, float]] = []
    for issue_id, event in sorted(latest.items(), key=lambda x: str(x[0])):
        current_bucket = bucket_of(event.timestamp)
        current = series.get(issue_id, {}).get(current_bucket, 0)
        if current < config.threshold:
            continue  # the cheap test first: most batches stop here
        baseline = baseline_of(series.get(issue_id, {}), current_bucket)
        if baseline is None:
            baseline = _project_baseline(session, project_id, window_start, current_bucket)
        if is_spike(current, baseline, config):
            candidates.append((event, current_bucket, current, baseline))
    if not candidates:
        return
    states = {
        row.issue_id: row
        for row in session.execute(
            sa.select(SpikeState).where(SpikeState.issue_id.in_([c[0].issue_id for c in candidates]))
        ).scalars()
    }
    for event, bucket, current, baseline in candidates:
        state = states.get(event.issue_id)
        if state is not None and _as_utc(state.snoozed_until) > event.timestamp:
            continue  # snoozed: the spike already announced holds back this one
        snoozed_until = event.timestamp + dt.timedelta(minutes=config.snooze_duration_minutes)
        if state is None:
            session.add(
                SpikeState(
                    issue_id=event.issue_id,
                    project_id=project_id,
                    snoozed_until=snoozed_until,
                    last_spike_at=event.timestamp,
                )
            )
        else:
            state.snoozed_until = snoozed_until
            state.last_spike_at = event.timestamp
        spike = SpikeEvent(
            project_id=project_id,
            issue_id=event.issue_id,
            detected_at=event.timestamp,
            bucket=bucket,
            current_bucket_value=current,
            computed_baseline=baseline,
        )
        session.add(spike)
        session.flush()
        props = _issue_props(session, event.issue_id)
        props.update(
            {
                "current_bucket_value": current,
                "computed_baseline": round(baseline, 3),
                "spike_event_id": str(spike.id),
                "event_uuid": str(event.uuid),
            }
        )
        lifecycle.emit(session, project_id=project_id, event=ISSUE_SPIKING, issue_id=event.issue_id, properties=props)


def _check_thresholds(
    session: Session,
    project_id: int,
    latest: dict[uuid.UUID, StoredEvent],
    series: dict[uuid.UUID, dict[dt.datetime, int]],
) -> None:
    alerts = list(
        session.execute(
            sa.select(Alert.id, Alert.threshold_events, Alert.threshold_minutes).where(
                Alert.project_id == project_id,
                Alert.enabled.is_(True),
                Alert.threshold_events.is_not(None),
                Alert.threshold_minutes.is_not(None),
            )
        ).all()
    )
    if not alerts:
        return
    fired = {
        (row.alert_id, row.issue_id): _as_utc(row.fired_at)
        for row in session.execute(
            sa.select(ThresholdWindow).where(
                ThresholdWindow.alert_id.in_([a.id for a in alerts]), ThresholdWindow.issue_id.in_(list(latest))
            )
        ).scalars()
    }
    for alert_id, events, minutes in alerts:
        if events is None or minutes is None:
            continue
        span = dt.timedelta(minutes=int(minutes))
        for issue_id, event in latest.items():
            current_bucket = bucket_of(event.timestamp)
            total = sum(n for b, n in series.get(issue_id, {}).items() if current_bucket - span < b <= current_bucket)
            if total < int(events):
                continue
            last = fired.get((alert_id, issue_id))
            if last is not None and last > event.timestamp - span:
                continue  # this crossing was announced already
            table = table_of(ThresholdWindow)
            stmt = insert_for(session.get_bind().dialect.name, table)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["alert_id", "issue_id"], set_={"fired_at": excluded_of(table)["fired_at"]}
                ),
                [{"alert_id": alert_id, "issue_id": issue_id, "fired_at": event.timestamp}],
            )
            props = _issue_props(session, issue_id)
            props.update(
                {
                    "alert_id": str(alert_id),
                    "window_count": total,
                    "window_minutes": int(minutes),
                    "event_uuid": str(event.uuid),
                    "fired_at": event.timestamp.isoformat(),
                }
            )
            lifecycle.emit(session, project_id=project_id, event=ISSUE_THRESHOLD, issue_id=issue_id, properties=props)


def _issue_props(session: Session, issue_id: uuid.UUID) -> dict[str, Any]:
    issue = session.get(Issue, issue_id)
    if issue is None:
        return {}
    return lifecycle.issue_properties(
        name=issue.name,
        description=issue.description,
        status=issue.status,
        severity=getattr(issue, "severity", None),
        first_seen=issue.first_seen,
        fingerprint=None,
        assignee=None,
    )


def spiking_issue_ids(
    session: Session, project_id: int, issue_ids: Sequence[uuid.UUID], now: dt.datetime
) -> set[uuid.UUID]:
    """Issues that spiked within the last hour (what the list and detail pages mark)."""
    if not issue_ids:
        return set()
    rows = session.execute(
        sa.select(SpikeState.issue_id).where(
            SpikeState.project_id == project_id,
            SpikeState.issue_id.in_(list(issue_ids)),
            SpikeState.last_spike_at >= now - WINDOW,
        )
    ).scalars()
    return set(rows)
