"""Delivery from the outbox: fan lifecycle rows out to matching alerts, then send with retries and backoff.

At-least-once: a delivery row is written (unique per destination and occurrence) in the same transaction that marks
the outbox row as fanned out, and is marked sent only after the receiver answered; a process killed in between
sends it again after restart, never loses it. One deliverer runs at a time across processes: each round first takes
or renews a lease row (an UPDATE guarded by holder/expiry, which SQLite's single writer and PostgreSQL's row lock
both make atomic). Sending happens outside any transaction, so a slow receiver never holds the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.accounts.models import Project
from faultline.alerts import destinations as channels
from faultline.alerts import spikes
from faultline.alerts.destinations import Message, SendResult, Target
from faultline.alerts.models import Alert, AlertAttempt, AlertDelivery, AlertDestination, AlertLease
from faultline.alerts.service import destinations_of, get_alert
from faultline.config import Settings
from faultline.db import Database, check_only, insert_for, table_of, utcnow
from faultline.errors import NotFound
from faultline.issues import lifecycle
from faultline.issues.models import Event, Issue, NotificationOutbox
from faultline.rules import filters as rule_filters

log = logging.getLogger(__name__)

LEASE_NAME = "alert-deliverer"
OUTBOX_BATCH = 200
SEND_BATCH = 50
MAX_BACKOFF_SECONDS = 3600.0
TEST_HOLD = dt.timedelta(hours=1)  # a test delivery is sent by the request; the deliverer leaves it alone that long

TRIGGER_OF_EVENT = {
    lifecycle.ISSUE_CREATED: "issue_created",
    lifecycle.ISSUE_REOPENED: "issue_reopened",
    lifecycle.ISSUE_ASSIGNED: "issue_assigned",
    spikes.ISSUE_SPIKING: "issue_spiking",
    spikes.ISSUE_THRESHOLD: "event_threshold",
}
RELEASE_KEYS = ("$exception_release", "$release", "release", "$app_version")
ENVIRONMENT_KEYS = ("$environment", "environment", "$exception_environment")

Sender = Callable[[Target, Message], SendResult]


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def first_in_app_frame(properties: Mapping[str, Any]) -> str | None:
    """`function (file:line)` of the innermost in-app frame of the first exception, else of its last frame."""
    exceptions = properties.get("$exception_list")
    if not isinstance(exceptions, list) or not exceptions or not isinstance(exceptions[0], Mapping):
        return None
    stack = exceptions[0].get("stacktrace")
    frames = stack.get("frames") if isinstance(stack, Mapping) else None
    if not isinstance(frames, list) or not frames:
        return None
    frames = [f for f in frames if isinstance(f, Mapping)]
    in_app = [f for f in frames if f.get("in_app")]
    frame = (in_app or frames)[-1] if (in_app or frames) else None
    if frame is None:
        return None
    function = frame.get("resolved_name") or frame.get("mangled_name") or frame.get("function") or "?"
    where = frame.get("source") or frame.get("filename") or frame.get("abs_path") or ""
    line = frame.get("line") or frame.get("lineno")
    text = f"{function} ({where}{f':{line}' if line else ''})" if where else str(function)
    return text[:300]


def _first_text(properties: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = properties.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return None


def build_message(
    *,
    settings: Settings,
    project_name: str,
    alert: Alert,
    trigger: str,
    issue: Issue | None,
    outbox_props: Mapping[str, Any],
    event_props: Mapping[str, Any],
    when: dt.datetime,
) -> Message:
    counts: dict[str, Any] = {}
    if issue is not None:
        counts = {"occurrences": issue.occurrences, "users": issue.users}
    for key in ("current_bucket_value", "computed_baseline", "window_count", "window_minutes"):
        if key in outbox_props:
            counts[key] = outbox_props[key]
    issue_id = str(issue.id) if issue is not None else None
    link = f"{settings.public_url}/project/{alert.project_id}/issues/{issue_id}" if issue_id else settings.public_url
    return Message(
        trigger=trigger,
        issue_id=issue_id,
        title=(issue.name if issue is not None else None) or str(outbox_props.get("name") or "Untitled issue"),
        description=(issue.description if issue is not None else None) or outbox_props.get("description"),
        link=link,
        project=project_name,
        frame=first_in_app_frame(event_props),
        counts=counts,
        release=_first_text(event_props, RELEASE_KEYS),
        environment=_first_text(event_props, ENVIRONMENT_KEYS),
        alert=alert.name,
        timestamp=_as_utc(when).isoformat(),
    )


def target_of(destination: AlertDestination, settings: Settings) -> Target:
    return Target(
        channel_type=destination.channel_type,
        config=dict(destination.config or {}),
        secret=destination.secret,
        timeout=settings.alert_timeout,
        allow_internal=settings.alert_allow_internal_urls,
        smtp_url=settings.smtp_url,
        smtp_from=settings.smtp_from,
    )


# -- fan-out ------------------------------------------------------------------------------------------------------


def _event_properties(session: Session, project_id: int, issue_id: uuid.UUID, raw_uuid: Any) -> dict[str, Any]:
    stmt = sa.select(Event.properties).where(check_only(Event.project_id) == project_id, Event.issue_id == issue_id)
    if isinstance(raw_uuid, str):
        try:
            stmt = stmt.where(Event.uuid == uuid.UUID(raw_uuid))
        except ValueError:
            pass
    else:
        stmt = stmt.order_by(Event.timestamp.desc()).limit(1)
    found = session.execute(stmt.limit(1)).scalar_one_or_none()
    return dict(found) if isinstance(found, Mapping) else {}


def _issue_view(issue: Issue | None, outbox_props: Mapping[str, Any]) -> dict[str, Any]:
    if issue is None:
        return {}
    return {
        "status": issue.status,
        "name": issue.name,
        "description": issue.description,
        "assignee": outbox_props.get("assignee"),
    }


def _throttled(session: Session, alert: Alert, issue_id: uuid.UUID, when: dt.datetime) -> bool:
    if alert.throttle_seconds <= 0:
        return False
    since = when - dt.timedelta(seconds=alert.throttle_seconds)
    found = session.execute(
        sa.select(AlertDelivery.id)
        .where(
            AlertDelivery.alert_id == alert.id,
            AlertDelivery.issue_id == issue_id,
            AlertDelivery.event_at > since,
            AlertDelivery.event_at <= when,
            AlertDelivery.trigger != "test",
        )
        .limit(1)
    ).first()
    return found is not None


def fan_out(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Turn undelivered outbox rows into delivery rows; returns how many outbox rows were handled."""
    rows = list(
        session.execute(
            sa.select(NotificationOutbox)
            .where(NotificationOutbox.delivered_at.is_(None))
            .order_by(NotificationOutbox.created_at, NotificationOutbox.id)
            .limit(OUTBOX_BATCH)
        ).scalars()
    )
    if not rows:
        return 0
    alerts_by_project: dict[int, list[tuple[Alert, list[AlertDestination], Any]]] = {}
    deliveries: list[dict[str, Any]] = []
    for row in rows:
        row.delivered_at = now
        trigger = TRIGGER_OF_EVENT.get(row.event)
        if trigger is None:
            continue
        if row.project_id not in alerts_by_project:
            alerts = list(
                session.execute(
                    sa.select(Alert).where(Alert.project_id == row.project_id, Alert.enabled.is_(True))
                ).scalars()
            )
            dest_rows = session.execute(
                sa.select(AlertDestination).where(AlertDestination.alert_id.in_([a.id for a in alerts]))
            ).scalars()
            by_alert: dict[uuid.UUID, list[AlertDestination]] = {a.id: [] for a in alerts}
            for dest in dest_rows:
                by_alert[dest.alert_id].append(dest)
            compiled = []
            for alert in alerts:
                try:
                    predicate = rule_filters.compile_filters(alert.filters or {"type": "AND", "values": []})
                except rule_filters.FilterError:
                    continue
                compiled.append((alert, by_alert[alert.id], predicate))
            alerts_by_project[row.project_id] = compiled
        matching = [entry for entry in alerts_by_project[row.project_id] if trigger in (entry[0].triggers or [])]
        if not matching:
            continue
        try:
            issue_id = uuid.UUID(row.distinct_id)
        except ValueError:
            continue
        issue = session.get(Issue, issue_id)
        props = dict(row.properties or {})
        event_props = _event_properties(session, row.project_id, issue_id, props.get("event_uuid"))
        filter_props = {**event_props, "$exception_issue_id": str(issue_id)}
        if props.get("assignee"):
            filter_props.setdefault("assignee", props.get("assignee"))
        project = session.get(Project, row.project_id)
        when = _as_utc(row.created_at)
        for alert, dests, predicate in matching:
            if trigger == "event_threshold" and props.get("alert_id") != str(alert.id):
                continue
            try:
                if not predicate(filter_props, _issue_view(issue, props)):
                    continue
            except Exception:  # a filter that cannot evaluate this event does not alert
                log.warning("alert %s: filters failed on outbox row %s", alert.id, row.id, exc_info=True)
                continue
            if _throttled(session, alert, issue_id, when):
                continue
            message = build_message(
                settings=settings,
                project_name=project.name if project is not None else str(row.project_id),
                alert=alert,
                trigger=trigger,
                issue=issue,
                outbox_props=props,
                event_props=event_props,
                when=when,
            )
            for dest in dests:
                deliveries.append(
                    {
                        "id": uuid.uuid4(),
                        "project_id": row.project_id,
                        "alert_id": alert.id,
                        "destination_id": dest.id,
                        "issue_id": issue_id,
                        "trigger": trigger,
                        "dedupe_key": f"{alert.id}:{issue_id}:{trigger}:{row.id}",
                        "payload": message.as_json(),
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "event_at": when,
                        "created_at": now,
                    }
                )
            if deliveries:  # inserted now, so the throttle of the next outbox row sees them
                _insert_deliveries(session, deliveries)
                deliveries = []
    return len(rows)


def _insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> None:
    table = table_of(AlertDelivery)
    stmt = insert_for(session.get_bind().dialect.name, table).on_conflict_do_nothing(
        index_elements=["destination_id", "dedupe_key"]
    )
    session.execute(stmt, rows)


# -- sending ------------------------------------------------------------------------------------------------------


def backoff(settings: Settings, attempts: int) -> dt.timedelta:
    seconds = min(settings.alert_retry_seconds * (2 ** max(attempts - 1, 0)), MAX_BACKOFF_SECONDS)
    return dt.timedelta(seconds=seconds)


def attempt(db: Database, settings: Settings, delivery_id: uuid.UUID, sender: Sender = channels.send) -> str:
    """Send one delivery once and record the attempt; returns its new status."""
    with db.read() as session:
        delivery = session.get(AlertDelivery, delivery_id)
        destination = session.get(AlertDestination, delivery.destination_id) if delivery is not None else None
        if delivery is None or destination is None or delivery.status in ("success", "failed"):
            return delivery.status if delivery is not None else "missing"
        target = target_of(destination, settings)
        message = Message.from_json(dict(delivery.payload or {}))
        number = delivery.attempts + 1
    try:
        result = sender(target, message)
    except Exception as exc:  # a bug in one channel must not stop the deliverer
        log.exception("sending delivery %s failed", delivery_id)
        result = SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
    now = utcnow()
    with db.write() as session:
        delivery = session.get(AlertDelivery, delivery_id)
        destination = session.get(AlertDestination, delivery.destination_id) if delivery is not None else None
        if delivery is None:
            return "missing"
        session.add(
            AlertAttempt(
                delivery_id=delivery.id,
                attempt=number,
                status="success" if result.ok else "error",
                http_status=result.http_status,
                error=result.error,
                duration_ms=result.duration_ms,
                created_at=now,
            )
        )
        delivery.attempts = number
        if result.ok:
            delivery.status = "success"
            delivery.delivered_at = now
            delivery.last_error = None
        elif not result.retry or number >= settings.alert_max_attempts:
            delivery.status = "failed"
            delivery.last_error = result.error
        else:
            delivery.status = "retrying"
            delivery.last_error = result.error
            delivery.next_attempt_at = now + backoff(settings, number)
        if destination is not None:
            if result.ok:
                destination.consecutive_failures = 0
                destination.last_success_at = now
                destination.last_error = None
            else:
                destination.consecutive_failures += 1
                destination.last_error = result.error
        return delivery.status


def due_deliveries(db: Database, now: dt.datetime) -> list[uuid.UUID]:
    with db.read() as session:
        return list(
            session.execute(
                sa.select(AlertDelivery.id)
                .where(AlertDelivery.status.in_(("pending", "retrying")), AlertDelivery.next_attempt_at <= now)
                .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
                .limit(SEND_BATCH)
            ).scalars()
        )


def send_test(
    db: Database, settings: Settings, project_id: int, alert_id: str, sender: Sender = channels.send
) -> list[uuid.UUID]:
    """A test notification to every destination of the alert, sent now (the answer says how it went); the
    deliveries and attempts land in the log like any other."""
    now = utcnow()
    with db.write() as session:
        alert = get_alert(session, project_id, alert_id)
        dests = destinations_of(session, [alert.id])[alert.id]
        if not dests:
            raise NotFound("This alert has no destinations.")
        project = session.get(Project, project_id)
        issue = session.execute(
            sa.select(Issue).where(Issue.project_id == project_id).order_by(Issue.last_seen.desc()).limit(1)
        ).scalar_one_or_none()
        event_props = _event_properties(session, project_id, issue.id, None) if issue is not None else {}
        message = build_message(
            settings=settings,
            project_name=project.name if project is not None else str(project_id),
            alert=alert,
            trigger="test",
            issue=issue,
            outbox_props={"name": "Test notification from Faultline"},
            event_props=event_props,
            when=now,
        )
        ids = []
        for dest in dests:
            delivery_id = uuid.uuid4()
            ids.append(delivery_id)
            session.add(
                AlertDelivery(
                    id=delivery_id,
                    project_id=project_id,
                    alert_id=alert.id,
                    destination_id=dest.id,
                    issue_id=issue.id if issue is not None else None,
                    trigger="test",
                    dedupe_key=f"test:{delivery_id}",
                    payload=message.as_json(),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now + TEST_HOLD,
                    event_at=now,
                    created_at=now,
                )
            )
    for delivery_id in ids:
        status = attempt(db, settings, delivery_id, sender)
        if status == "retrying":  # the deliverer retries it on the usual schedule
            with db.write() as session:
                delivery = session.get(AlertDelivery, delivery_id)
                if delivery is not None:
                    delivery.next_attempt_at = utcnow() + backoff(settings, delivery.attempts)
    return ids


# -- the background service ---------------------------------------------------------------------------------------


def take_lease(session: Session, holder: str, now: dt.datetime, ttl: dt.timedelta) -> bool:
    """True when `holder` holds the deliverer lease until now + ttl (taken over only once expired)."""
    table = table_of(AlertLease)
    renewed = session.execute(
        sa.update(table)
        .where(table.c.name == LEASE_NAME, sa.or_(table.c.holder == holder, table.c.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if getattr(renewed, "rowcount", 0):
        return True
    inserted = session.execute(
        insert_for(session.get_bind().dialect.name, table)
        .values(name=LEASE_NAME, holder=holder, expires_at=now + ttl)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return bool(getattr(inserted, "rowcount", 0))


def release_lease(session: Session, holder: str) -> None:
    table = table_of(AlertLease)
    session.execute(sa.delete(table).where(table.c.name == LEASE_NAME, table.c.holder == holder))


class Deliverer:
    """The background loop: every `alert_poll_seconds`, take the lease, fan out, send what is due."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        sender: Sender = channels.send,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sender = sender
        self.clock = clock
        self.holder = f"{uuid.uuid4()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=max(30.0, self.settings.alert_poll_seconds * 5, self.settings.alert_timeout * 3))

    def run_once(self) -> int:
        """One round; returns how many deliveries were attempted (0 also when another process holds the lease)."""
        now = self.clock()
        if not self._has_work(now):
            return 0  # an idle round reads two indexes and takes no write lock (SQLite has one writer)
        with self.db.write() as session:
            if not take_lease(session, self.holder, now, self.lease_ttl):
                return 0
            fan_out(session, self.settings, now)
        sent = 0
        for delivery_id in due_deliveries(self.db, now):
            if self._stop.is_set():
                break
            attempt(self.db, self.settings, delivery_id, self.sender)
            sent += 1
            if sent % 10 == 0:
                with self.db.write() as session:
                    if not take_lease(session, self.holder, self.clock(), self.lease_ttl):
                        break
        return sent

    def _has_work(self, now: dt.datetime) -> bool:
        with self.db.read() as session:
            outbox = session.execute(
                sa.select(NotificationOutbox.id).where(NotificationOutbox.delivered_at.is_(None)).limit(1)
            ).first()
            if outbox is not None:
                return True
            due = session.execute(
                sa.select(AlertDelivery.id)
                .where(AlertDelivery.status.in_(("pending", "retrying")), AlertDelivery.next_attempt_at <= now)
                .limit(1)
            ).first()
            return due is not None

    def _loop(self) -> None:
        # The first round waits one interval: a process that has just started lets its HTTP side come up first.
        while not self._stop.wait(self.settings.alert_poll_seconds):
            try:
                self.run_once()
            except Exception:
                log.exception("alert delivery round failed; retrying in %.1fs", self.settings.alert_poll_seconds)

    def start_thread(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="faultline-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.alert_timeout + 5)
            self._thread = None
        try:
            with self.db.write() as session:
                release_lease(session, self.holder)
        except Exception:
            log.warning("could not release the alert delivery lease", exc_info=True)
