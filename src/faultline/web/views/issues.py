"""The issue list: status tabs, search (`key:value` included), sort, assignee filter, sparklines, bulk actions.

Filtering and sorting are `faultline.issues.filters.parse_issue_query` + `queries.list_issues` — exactly what
`GET …/error_tracking/issues/` runs — and bulk actions are the service's `bulk_*` functions behind the API's
`bulk/` endpoint, validated by its `BulkIn` schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.alerts import service as alert_service
from faultline.db import utcnow
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.issues import queries, service, tags
from faultline.issues.filters import FilterError, parse_issue_query
from faultline.issues.schemas import MAX_IDS, BulkIn
from faultline.web import flash, forms
from faultline.web.deps import ProjectPage, csrf_form, project_page
from faultline.web.pager import Pager
from faultline.web.paths import safe_next
from faultline.web.people import Directory, parse_assignee
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

TABS = (("active", "Active"), ("resolved", "Resolved"), ("suppressed", "Suppressed"), ("all", "All"))
SORTS = (
    ("last_seen", "Last seen"),
    ("first_seen", "First seen"),
    ("occurrences", "Events"),
    ("users", "Users"),
    ("severity", "Severity"),
)
SEVERITY_CHOICES = (
    ("", "Any severity"),
    ("critical", "Critical"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
)
BULK_ACTIONS = {"resolve": "resolved", "suppress": "suppressed", "activate": "active"}
# Query-string field → the list parameter it feeds (the UI keeps short, stable names in its URLs).
FIELD_ATTRS = {
    "status": "status",
    "search": "q",
    "order_by": "order",
    "assignee": "assignee",
    "severity": "severity",
    "release": "release",
    "environment": "environment",
    "level": "level",
    "date_from": "from",
    "date_to": "to",
}
# "Seen in the last …" presets of the date filter (the API's relative dates); `from`/`to` take calendar days.
SEEN = (
    ("", "Any time"),
    ("-24h", "Last 24 hours"),
    ("-7d", "Last 7 days"),
    ("-14d", "Last 14 days"),
    ("-30d", "Last 30 days"),
)
LEVELS = ("fatal", "error", "warning", "info", "debug", "log")


def list_url(project_id: int) -> str:
    return f"/project/{project_id}/issues"


def _choice(value: str | None, allowed: tuple[tuple[str, str], ...], default: str) -> str:
    return value if value in {key for key, _ in allowed} else default


def view_state(query: Mapping[str, str]) -> dict[str, str]:
    """The list's own parameters from a query string, normalised (unknown tab/sort fall back to the defaults)."""
    return {
        "status": _choice(query.get("status"), TABS, "active"),
        "q": (query.get("q") or "")[:1000],
        "order": _choice(query.get("order"), SORTS, "last_seen"),
        "assignee": (query.get("assignee") or "")[:100],
        "severity": _choice(query.get("severity"), SEVERITY_CHOICES, ""),
        "release": (query.get("release") or "")[:200],
        "environment": (query.get("environment") or "")[:200],
        "level": _choice(query.get("level"), tuple((level, level) for level in LEVELS), ""),
        "seen": _choice(query.get("seen"), SEEN, ""),
        "from": (query.get("from") or "")[:10],
        "to": (query.get("to") or "")[:10],
    }


DEFAULTS = {
    "status": "active",
    "q": "",
    "order": "last_seen",
    "assignee": "",
    "severity": "",
    "release": "",
    "environment": "",
    "level": "",
    "seen": "",
    "from": "",
    "to": "",
}
MORE_FILTERS = ("release", "environment", "level", "seen", "from", "to")


def _date_params(state: Mapping[str, str]) -> dict[str, str]:
    """`from`/`to` are whole days (the end day included); `seen` a relative start."""
    params = {}
    if state["seen"]:
        params["date_from"] = state["seen"]
    if state["from"]:
        params["date_from"] = state["from"] + "T00:00:00Z"
    if state["to"]:
        params["date_to"] = state["to"] + "T23:59:59.999999Z"
    return params


def state_params(state: Mapping[str, str]) -> dict[str, str]:
    """The parameters that differ from the defaults (short, stable links)."""
    return {k: v for k, v in state.items() if k in DEFAULTS and v != DEFAULTS[k]}


def state_url(project_id: int, state: Mapping[str, str], **changes: str) -> str:
    """The list URL for `state` with some parameters changed (and the first page)."""
    params = state_params({**state, **changes})
    return list_url(project_id) + (f"?{urlencode(params)}" if params else "")


def render_list(
    request: Request,
    page: ProjectPage,
    query: Mapping[str, str],
    *,
    bulk_error: str | None = None,
    status_code: int = 200,
) -> Response:
    state = view_state(query)
    limit, offset = Pager.window(query)
    params = {
        "status": state["status"],
        "search": state["q"],
        "order_by": state["order"],
        "assignee": state["assignee"],
        "severity": state["severity"],
        "release": state["release"],
        "environment": state["environment"],
        "level": state["level"],
        **_date_params(state),
    }
    now = utcnow()
    filter_errors: dict[str, str] = {}
    total, issues = 0, []
    with get_db(request).read() as session:
        directory = Directory.load(session, page.project.organization_id, page.user.id)
        counts = queries.status_counts(session, page.project.id)
        choices = {key: tags.known_values(session, page.project.id, key) for key in (tags.RELEASE, tags.ENVIRONMENT)}
        try:
            issue_query = parse_issue_query({k: v for k, v in params.items() if v}, now)
        except FilterError as exc:
            filter_errors[FIELD_ATTRS.get(exc.attr, "form")] = exc.message
        else:
            total, issues = queries.list_issues(
                session, page.project.id, issue_query, limit=limit, offset=offset, now=now, user_id=page.user.id
            )
    spiking = _spiking(request, page.project.id, issues, now)
    counts["all"] = sum(counts.values())
    pager = Pager.from_query({**state_params(state), **_window(query)}, total=total, path=list_url(page.project.id))
    context: dict[str, Any] = {
        "page_title": f"Issues · {page.project.name}",
        "project": page.project,
        "nav": "issues",
        "switch_section": "issues",
        "state": state,
        "tabs": TABS,
        "sorts": SORTS,
        "severities": SEVERITY_CHOICES,
        "counts": counts,
        "issues": issues,
        "spiking": spiking,
        "total": total,
        "pager": pager,
        "directory": directory,
        "filter_errors": filter_errors,
        "bulk_error": bulk_error,
        "tab_url": lambda status: state_url(page.project.id, state, status=status),
        "self_url": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        "filtered": bool(state["q"] or state["assignee"] or any(state[k] for k in MORE_FILTERS)),
        "more_filters": any(state[k] for k in MORE_FILTERS),
        "choices": choices,
        "seen_choices": SEEN,
        "levels": LEVELS,
        "clear_url": state_url(page.project.id, {"status": state["status"]}),
    }
    if status_code == 200 and filter_errors:
        status_code = 400
    return get_templates(request).response(request, "issues.html", context, status_code=status_code)


def _spiking(request: Request, project_id: int, issues: list[Any], now: Any) -> set[str]:
    """Ids (as text) of the listed issues that spiked within the last hour."""
    ids = [parse_uuid(str(issue["id"])) for issue in issues]
    with get_db(request).read() as session:
        found = alert_service.spiking(session, project_id, [i for i in ids if i is not None], now)
    return {str(i) for i in found}


def _window(query: Mapping[str, str]) -> dict[str, str]:
    return {k: query[k] for k in ("limit", "offset") if k in query}


@router.get("/project/{project_id}/issues")
def issue_list(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    return render_list(request, page, dict(request.query_params))


def _selected_ids(form: FormData) -> list[uuid.UUID]:
    ids = [parse_uuid(raw) for raw in forms.texts(form, "ids", limit=64, count=MAX_IDS)]
    return list(dict.fromkeys(i for i in ids if i is not None))


@router.post("/project/{project_id}/issues/bulk")
def bulk_action(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    back = safe_next(forms.text(form, "next", 2000), default=list_url(page.project.id))
    if not back.startswith(list_url(page.project.id)):
        back = list_url(page.project.id)
    back_query = dict(parse_qsl(urlsplit(back).query))
    action = forms.text(form, "action", 20)
    ids = _selected_ids(form)

    def refuse(message: str) -> Response:
        return render_list(request, page, back_query, bulk_error=message, status_code=400)

    if not ids:
        return refuse("Select at least one issue first.")
    if action in BULK_ACTIONS:
        payload: dict[str, Any] = {"action": "set_status", "ids": [str(i) for i in ids], "status": BULK_ACTIONS[action]}
    elif action == "assign":
        raw = forms.text(form, "assignee", 100)
        payload = {"action": "assign", "ids": [str(i) for i in ids], "assignee": _assignee_payload(raw)}
        if raw and payload["assignee"] is None:
            return refuse("Choose someone from the list to assign to.")
    elif action == "merge":
        if len(ids) < 2:
            return refuse("Select at least two issues to merge.")
        payload = {"action": "merge", "ids": [str(i) for i in ids]}
    else:
        return refuse("Choose an action: resolve, suppress, reopen, assign or merge.")
    body, errors = forms.validate(BulkIn, payload)
    if body is None:
        return refuse(next(iter(errors.values())))
    try:
        with get_db(request).write() as session:
            message = _apply(session, page, body, ids)
    except service.IssueError as exc:
        return refuse(str(exc))
    response = RedirectResponse(back, status_code=303)
    flash.add(request, response, message)
    return response


def _assignee_payload(raw: str) -> dict[str, Any] | None:
    parsed = parse_assignee(raw) if raw else None
    if parsed is None:
        return None
    kind, value = parsed
    return {"type": kind, "id": str(value)}


def _apply(session: Any, page: ProjectPage, body: BulkIn, ids: list[uuid.UUID]) -> str:
    user, project = page.user, page.project
    if body.action == "set_status":
        changed = service.bulk_set_status(session, project.id, ids, body.status, user)
        verb = {"resolved": "Resolved", "suppressed": "Suppressed", "active": "Reopened"}[body.status]
        return f"{verb} {len(changed)} issue{'s' if len(changed) != 1 else ''}."
    if body.action == "assign":
        assignee = body.assignee.to_assignee() if body.assignee is not None else None
        changed = service.bulk_assign(session, project.id, project.organization_id, ids, assignee, user)
        what = "Assigned" if assignee is not None else "Unassigned"
        return f"{what} {len(changed)} issue{'s' if len(changed) != 1 else ''}."
    _target, outcome = service.bulk_merge(session, project.id, ids, user)
    if outcome.result is not service.MergeResult.MERGED:
        return "Nothing to merge: the selected issues no longer exist."
    count = len(outcome.merged_issue_ids)
    return f"Merged {count} issue{'s' if count != 1 else ''} into the first selected one."
