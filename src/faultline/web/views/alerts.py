"""Alerts: the list with a create form and the spike-detection thresholds, and one alert's page with its
destinations (failing ones flagged), a "Send test notification" button and the delivery log.

Writes go through `faultline.alerts.service` with the same validation the REST API uses; the form is turned into
the API's request body first, so the messages are the API's.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.alerts import delivery
from faultline.alerts import service as alerts
from faultline.alerts.destinations import CHANNELS
from faultline.alerts.destinations.base import TRIGGER_LABELS
from faultline.alerts.schemas import TRIGGERS
from faultline.errors import DomainError, NotFound
from faultline.http.deps import get_db, get_settings
from faultline.http.routing import Router
from faultline.web import flash, forms
from faultline.web.deps import ProjectPage, csrf_form, project_page
from faultline.web.errors import not_found
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

CHANNEL_LABELS = {
    "slack": "Slack (incoming webhook URL)",
    "discord": "Discord (webhook URL)",
    "teams": "Microsoft Teams (workflow webhook URL)",
    "webhook": "Webhook (signed JSON POST)",
    "email": "E-mail",
}
DELIVERIES_SHOWN = 50


def alerts_url(project_id: int) -> str:
    return f"/project/{project_id}/alerts"


def _field(attr: str | None) -> str:
    if not attr:
        return "form"
    head = attr.split("__", 1)[0]
    if head == "destinations":
        return "destination"
    return head if head in ("name", "triggers", "filters", "throttle_seconds", "threshold") else "form"


def render_list(
    request: Request,
    page: ProjectPage,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    settings = get_settings(request)
    with get_db(request).read() as session:
        found = list(session.execute(alerts.list_alerts_stmt(page.project.id)).scalars())
        dests = alerts.destinations_of(session, [a.id for a in found])
        rows = [alerts.alert_json(a, dests[a.id], settings) for a in found]
        spike_config = alerts.spike_config_json(session, page.project.id)
        spike_events = list(session.execute(alerts.spike_events_stmt(page.project.id).limit(10)).scalars())
    context = {
        "page_title": f"Alerts · {page.project.name}",
        "project": page.project,
        "nav": "alerts",
        "switch_section": "alerts",
        "alerts": rows,
        "trigger_labels": {t: TRIGGER_LABELS[t] for t in TRIGGERS},
        "channels": [(c, CHANNEL_LABELS[c]) for c in CHANNELS],
        "smtp_configured": bool(settings.smtp_url),
        "spike_config": spike_config,
        "spike_events": [alerts.spike_event_json(e) for e in spike_events],
        "values": values or {"triggers": ["issue_created", "issue_reopened", "issue_spiking"], "channel_type": "slack"},
        "errors": errors or {},
        "failing_after": settings.alert_failing_after,
    }
    return get_templates(request).response(request, "alerts.html", context, status_code=status_code)


def render_alert(
    request: Request,
    page: ProjectPage,
    alert_id: str,
    *,
    secrets_shown: dict[uuid.UUID, str] | None = None,
    status_code: int = 200,
) -> Response:
    settings = get_settings(request)
    with get_db(request).read() as session:
        try:
            alert = alerts.get_alert(session, page.project.id, alert_id)
        except NotFound:
            raise not_found("alert") from None
        view = alerts.alert_json(alert, alerts.destinations_of(session, [alert.id])[alert.id], settings, secrets_shown)
        count, deliveries = alerts.delivery_page(session, alert, limit=DELIVERIES_SHOWN, offset=0)
    context = {
        "page_title": f"{alert.name} · Alerts · {page.project.name}",
        "project": page.project,
        "nav": "alerts",
        "switch_section": "alerts",
        "alert": view,
        "deliveries": deliveries,
        "delivery_count": count,
        "trigger_labels": TRIGGER_LABELS,
        "base_url": f"{alerts_url(page.project.id)}/{alert.id}",
    }
    return get_templates(request).response(request, "alert.html", context, status_code=status_code)


@router.get("/project/{project_id}/alerts")
def alert_list(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    return render_list(request, page)


def _body_of(form: FormData) -> tuple[dict[str, Any], dict[str, Any]]:
    """The REST request body for the create form, and the raw values to show again on error."""
    values = {
        "name": forms.text(form, "name", 500),
        "triggers": forms.texts(form, "triggers", 40, 20),
        "channel_type": forms.text(form, "channel_type", 20),
        "url": forms.text(form, "url", 70_000),
        "recipients": forms.text(form, "recipients", 6000),
        "exception_types": forms.text(form, "exception_types", 2000),
        "throttle_seconds": forms.text(form, "throttle_seconds", 20),
        "threshold_events": forms.text(form, "threshold_events", 20),
        "threshold_minutes": forms.text(form, "threshold_minutes", 20),
    }
    channel = values["channel_type"]
    config: dict[str, Any] = {"recipients": values["recipients"]} if channel == "email" else {"url": values["url"]}
    types = [t.strip() for t in values["exception_types"].split(",") if t.strip()]
    filters = {"type": "AND", "values": []}
    if types:
        filters["values"] = [{"key": "$exception_types", "type": "event", "operator": "exact", "value": types}]
    body: dict[str, Any] = {
        "name": values["name"],
        "triggers": values["triggers"],
        "filters": filters,
        "throttle_seconds": values["throttle_seconds"] or 0,
        "destinations": [{"channel_type": channel, "config": config}],
        "threshold": None,
    }
    if "event_threshold" in values["triggers"]:
        body["threshold"] = {"events": values["threshold_events"], "minutes": values["threshold_minutes"]}
    return body, values


@router.post("/project/{project_id}/alerts")
def create_alert(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    body, values = _body_of(form)
    try:
        with get_db(request).write() as session:
            alert, shown = alerts.create_alert(
                session, page.project.id, body, get_settings(request), user_id=page.user.id
            )
    except DomainError as exc:
        return render_list(request, page, values=values, errors={_field(exc.attr): exc.detail}, status_code=400)
    if shown:  # the webhook secret is shown on this page once, never again
        return render_alert(request, page, str(alert.id), secrets_shown=shown)
    response = RedirectResponse(f"{alerts_url(page.project.id)}/{alert.id}", status_code=303)
    flash.add(request, response, f"Alert “{alert.name}” created.")
    return response


@router.post("/project/{project_id}/alerts/spike-config")
def save_spike_config(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    body = {k: forms.text(form, k, 40) for k in ("multiplier", "threshold", "snooze_duration_minutes")}
    try:
        with get_db(request).write() as session:
            alerts.update_spike_config(session, page.project.id, body)
    except DomainError as exc:
        return render_list(request, page, errors={f"spike_{exc.attr or 'form'}": exc.detail}, status_code=400)
    response = RedirectResponse(alerts_url(page.project.id), status_code=303)
    flash.add(request, response, "Spike detection thresholds saved.")
    return response


@router.get("/project/{project_id}/alerts/{alert_id}")
def alert_page(request: Request, alert_id: str, page: ProjectPage = Depends(project_page)) -> Response:
    return render_alert(request, page, alert_id)


@router.post("/project/{project_id}/alerts/{alert_id}/test")
def send_test(
    request: Request, alert_id: str, _form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    try:
        ids = delivery.send_test(get_db(request), get_settings(request), page.project.id, alert_id)
    except NotFound:
        raise not_found("alert") from None
    with get_db(request).read() as session:
        alert = alerts.get_alert(session, page.project.id, alert_id)
        _count, rows = alerts.delivery_page(session, alert, limit=len(ids) + 5, offset=0)
    sent = [r for r in rows if r["id"] in {str(i) for i in ids}]
    ok = sum(1 for r in sent if r["status"] == "success")
    response = RedirectResponse(f"{alerts_url(page.project.id)}/{alert_id}", status_code=303)
    if ok == len(sent):
        flash.add(request, response, f"Test notification sent to {ok} destination{'s' if ok != 1 else ''}.")
    else:
        flash.add(request, response, f"Test notification: {ok} of {len(sent)} destinations accepted it.", "error")
    return response


@router.post("/project/{project_id}/alerts/{alert_id}/toggle")
def toggle_alert(
    request: Request, alert_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    enabled = forms.text(form, "enabled", 10) == "true"
    try:
        with get_db(request).write() as session:
            alerts.update_alert(session, page.project.id, alert_id, {"enabled": enabled}, get_settings(request))
    except NotFound:
        raise not_found("alert") from None
    response = RedirectResponse(f"{alerts_url(page.project.id)}/{alert_id}", status_code=303)
    flash.add(request, response, "Alert enabled." if enabled else "Alert disabled.")
    return response


@router.post("/project/{project_id}/alerts/{alert_id}/delete")
def delete_alert(
    request: Request, alert_id: str, _form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    try:
        with get_db(request).write() as session:
            alerts.delete_alert(session, page.project.id, alert_id)
    except NotFound:
        raise not_found("alert") from None
    response = RedirectResponse(alerts_url(page.project.id), status_code=303)
    flash.add(request, response, "Alert deleted.")
    return response
