"""REST endpoints: `error_tracking/alerts` (CRUD, `test`, `deliveries`), `spike_detection_config`, `spike_events`.

Shapes follow PostHog's native alerts (`{name, enabled, triggers, filters, throttle_seconds, destinations}`) and its
DRF conventions: LimitOffset pages, `{type, code, detail, attr}` errors, DELETE → 204.
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request, Response
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.alerts import delivery
from faultline.alerts import service as alerts
from faultline.config import Settings
from faultline.http.deps import READ_SESSION, WRITE_SESSION, get_db, get_settings
from faultline.http.pagination import PageParams, page_params, paginate_query
from faultline.http.routing import Router
from faultline.ids import parse_uuid

router = Router(tags=["error tracking alerts"])

READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")
ALERTS = "/error_tracking/alerts/"

ALERT_EXAMPLE = {
    "name": "New errors to #oncall",
    "enabled": True,
    "triggers": ["issue_created", "issue_reopened", "issue_spiking"],
    "filters": {"type": "AND", "values": []},
    "throttle_seconds": 0,
    "threshold": None,
    "destinations": [
        {"channel_type": "slack", "config": {"url": "https://hooks.slack.com/services/T000/B000/XXXX"}},
        {"channel_type": "webhook", "config": {"url": "https://example.com/faultline-hook"}},
    ],
}


@router.get(ALERTS, summary="List alerts")
def list_alerts(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    result = paginate_query(session, page, alerts.list_alerts_stmt(ctx.project_id), lambda a: a)
    found = alerts.destinations_of(session, [a.id for a in result["results"]])
    result["results"] = [alerts.alert_json(a, found[a.id], settings) for a in result["results"]]
    return result


@router.post(ALERTS, status_code=201, summary="Create an alert (webhook secrets are shown only in this answer)")
def create_alert(
    body: Any = Body(None, examples=[ALERT_EXAMPLE]),
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    alert, shown = alerts.create_alert(session, ctx.project_id, body, settings, user_id=ctx.principal.user.id)
    return alerts.alert_json(alert, alerts.destinations_of(session, [alert.id])[alert.id], settings, shown)


@router.get(ALERTS + "{alert_id}/", summary="Retrieve an alert")
def get_alert(
    alert_id: str,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    alert = alerts.get_alert(session, ctx.project_id, alert_id)
    return alerts.alert_json(alert, alerts.destinations_of(session, [alert.id])[alert.id], settings)


def _update(
    alert_id: str,
    body: Any = Body(None),
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    alert, shown = alerts.update_alert(session, ctx.project_id, alert_id, body if body is not None else {}, settings)
    return alerts.alert_json(alert, alerts.destinations_of(session, [alert.id])[alert.id], settings, shown)


router.patch(ALERTS + "{alert_id}/", summary="Update an alert (given fields only)")(_update)
router.put(ALERTS + "{alert_id}/", summary="Update an alert")(_update)


@router.delete(ALERTS + "{alert_id}/", status_code=204, summary="Delete an alert")
def delete_alert(alert_id: str, ctx: ProjectContext = Depends(WRITE), session: Session = WRITE_SESSION) -> Response:
    alerts.delete_alert(session, ctx.project_id, alert_id)
    return Response(status_code=204)


@router.post(ALERTS + "{alert_id}/test/", summary="Send a test notification to every destination now")
def test_alert(
    request: Request,
    alert_id: str,
    ctx: ProjectContext = Depends(WRITE),
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    db = get_db(request)
    ids = delivery.send_test(db, settings, ctx.project_id, alert_id)
    with db.read() as session:
        alert = alerts.get_alert(session, ctx.project_id, alert_id)
        _count, rows = alerts.delivery_page(session, alert, limit=max(len(ids), 1) + 50, offset=0)
    wanted = {str(i) for i in ids}
    return {"results": [row for row in rows if row["id"] in wanted]}


@router.get(ALERTS + "{alert_id}/deliveries/", summary="The alert's delivery log (newest first)")
def alert_deliveries(
    alert_id: str,
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    alert = alerts.get_alert(session, ctx.project_id, alert_id)
    count, rows = alerts.delivery_page(session, alert, limit=page.limit, offset=page.offset)
    return page.envelope(count, rows)


@router.get("/error_tracking/spike_detection_config/", summary="Spike detection thresholds")
def get_spike_config(ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> dict[str, Any]:
    return alerts.spike_config_json(session, ctx.project_id)


def _update_spike_config(
    body: Any = Body(None), ctx: ProjectContext = Depends(WRITE), session: Session = WRITE_SESSION
) -> dict[str, Any]:
    return alerts.update_spike_config(session, ctx.project_id, body if body is not None else {})


router.patch("/error_tracking/spike_detection_config/", summary="Update spike detection thresholds")(
    _update_spike_config
)
router.put("/error_tracking/spike_detection_config/", summary="Update spike detection thresholds")(_update_spike_config)


@router.get("/error_tracking/spike_events/", summary="Detected spikes (newest first)")
def spike_events(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
    issue_id: str | None = None,
) -> dict[str, Any]:
    parsed = parse_uuid(issue_id) if issue_id else None
    return paginate_query(session, page, alerts.spike_events_stmt(ctx.project_id, parsed), alerts.spike_event_json)
