"""The issue page: header controls, volume chart, the stack trace of one event, grouping record, event browser,
fingerprints (split), merge candidates and the activity log.

Every read is a `faultline.issues.queries` function (the REST API's), plus the symbol domain's stored context lines;
the page only arranges them. The event shown is the newest unless `?event=<uuid>` picks another one of the issue.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from faultline.alerts import service as alert_service
from faultline.db import utcnow
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.issues import breakdowns, naming, queries, tags
from faultline.issues.filters import FilterError, parse_issue_query
from faultline.issues.models import SEVERITIES, Event, Issue
from faultline.issues.schemas import EventOut
from faultline.retention import usage
from faultline.rules import service as rules
from faultline.rules.models import GroupingRule
from faultline.symbols.frames_router import frame_contexts
from faultline.web import activity, events, export, grouping, rule_editor, stacktrace
from faultline.web.deps import ProjectPage, project_page
from faultline.web.errors import not_found
from faultline.web.people import Directory, value_of
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

MAX_FINGERPRINTS = 200
MERGE_CANDIDATES = 10
ACTIVITY_SHOWN = 30


def issue_url(project_id: int, issue_id: uuid.UUID | str) -> str:
    return f"/project/{project_id}/issues/{issue_id}"


def parse_issue_id(raw: str) -> uuid.UUID:
    parsed = parse_uuid(raw)
    if parsed is None:
        raise not_found("issue")
    return parsed


def _event_view(
    session: Session, project_id: int, event: Event, issue: Mapping[str, Any], absolute_url: str
) -> dict[str, Any]:
    props = event.properties if isinstance(event.properties, Mapping) else {}
    exception_list = props.get("$exception_list")
    contexts = frame_contexts(session, project_id, stacktrace.raw_ids(exception_list))
    chain = stacktrace.build_chain(exception_list, contexts)
    explanation = grouping.explain(props.get("$exception_fingerprint_record"), chain, fingerprint=event.fingerprint)
    if explanation.rule_id:
        rule = rules.get_rule(session, GroupingRule, project_id, explanation.rule_id)
        label = (rule.description or rule_editor.describe(rule.filters)) if rule is not None else None
        grouping.name_rule(explanation, label)
    summary = events.summarize(props, distinct_id=event.distinct_id, lib=event.lib)
    return {
        "event": event,
        "position": queries.event_position(session, project_id, event),
        "chain": chain,
        "grouping": explanation,
        "summary": summary,
        "properties": events.property_rows(props),
        "breadcrumbs": events.breadcrumbs(props),
        "traceback_text": export.traceback_text(chain),
        "markdown": export.markdown(chain, summary, issue, f"{absolute_url}?event={event.uuid}"),
    }


def _merge_candidates(
    session: Session, page: ProjectPage, issue_id: uuid.UUID, search: str
) -> tuple[list[dict[str, Any]], str | None]:
    now = utcnow()
    params = {"status": "all" if search else "active"}
    if search:
        params["search"] = search
    try:
        query = parse_issue_query(params, now)
    except FilterError as exc:
        return [], exc.message
    _total, found = queries.list_issues(
        session, page.project.id, query, limit=MERGE_CANDIDATES + 1, offset=0, now=now, user_id=page.user.id
    )
    return [issue for issue in found if issue["id"] != issue_id][:MERGE_CANDIDATES], None


def render_issue(
    request: Request,
    page: ProjectPage,
    issue_id: uuid.UUID,
    *,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    query = request.query_params
    project_id = page.project.id
    merge_search = (query.get("merge_q") or "")[:200]
    with get_db(request).read() as session:
        detail = queries.issue_detail(session, project_id, issue_id, utcnow())
        if detail is None:
            raise not_found("issue")
        directory = Directory.load(session, page.project.organization_id, page.user.id)
        wanted = parse_uuid(query.get("event") or "") if query.get("event") else None
        if query.get("event") and wanted is None:
            raise not_found("event")
        event = (
            queries.get_issue_event(session, project_id, issue_id, wanted)
            if wanted is not None
            else queries.latest_issue_event(session, project_id, issue_id)
        )
        if wanted is not None and event is None:
            raise not_found("event")
        absolute_url = request.app.state.settings.public_url.rstrip("/") + issue_url(project_id, issue_id)
        shown = _event_view(session, project_id, event, detail, absolute_url) if event is not None else None
        fingerprints = list(
            session.execute(queries.fingerprints_stmt(project_id, issue_id).limit(MAX_FINGERPRINTS)).scalars()
        )
        summaries = naming.summarize_fingerprints(
            session, project_id, issue_id, [fp.fingerprint for fp in fingerprints]
        )
        regressed_in = session.execute(sa.select(Issue.regressed_in).where(Issue.id == issue_id)).scalar_one_or_none()
        releases = tags.issue_releases(session, issue_id, regressed_in)
        breakdown = breakdowns.breakdowns(
            session, issue_id, detail["aggregates"]["occurrences"], detail["aggregates"]["users"]
        )
        _count, entries = queries.activity_page(session, project_id, item_id=issue_id, limit=ACTIVITY_SHOWN, page=1)
        candidates, merge_error = _merge_candidates(session, page, issue_id, merge_search)
        stored_bytes, stored_events = usage.issue_bytes(session, project_id, [issue_id]).get(issue_id, (0, 0))
        spiking = issue_id in alert_service.spiking(session, project_id, [issue_id], utcnow())
    context: dict[str, Any] = {
        "stored": {"bytes": stored_bytes, "events": stored_events},
        "page_title": f"{detail['name'] or 'Issue'} · {page.project.name}",
        "project": page.project,
        "nav": "issues",
        "switch_section": "issues",
        "issue": detail,
        "spiking": spiking,
        "issue_url": issue_url(project_id, issue_id),
        "shown": shown,
        "releases": releases,
        "breakdowns": breakdown,
        "releases_url": f"/project/{project_id}/releases",
        "fingerprints": fingerprints,
        "fingerprint_summaries": summaries,
        "activity": [activity.describe(entry, directory) for entry in entries],
        "directory": directory,
        "assignee_label": directory.label(detail["assignee"]),
        "assignee_value": value_of(detail["assignee"]),
        "severities": SEVERITIES,
        "candidates": candidates,
        "merge_search": merge_search,
        "merge_error": merge_error,
        "errors": dict(errors or {}),
        "rules_url": f"/project/{project_id}/rules/grouping",
    }
    return get_templates(request).response(request, "issue.html", context, status_code=status_code)


@router.get("/project/{project_id}/issues/{issue_id}")
def issue_page(request: Request, issue_id: str, page: ProjectPage = Depends(project_page)) -> Response:
    return render_issue(request, page, parse_issue_id(issue_id))


@router.get("/project/{project_id}/issues/{issue_id}/events/{event_id}.json")
def raw_event(request: Request, issue_id: str, event_id: str, page: ProjectPage = Depends(project_page)) -> Response:
    """The stored event exactly as the REST API serves it (`…/issues/{id}/events/{uuid}/`), as a download."""
    wanted = parse_uuid(event_id)
    if wanted is None:
        raise not_found("event")
    with get_db(request).read() as session:
        event = queries.get_issue_event(session, page.project.id, parse_issue_id(issue_id), wanted)
        if event is None:
            raise not_found("event")
        wire = EventOut.model_validate(queries.serialize_event(event)).model_dump(mode="json")
    body = orjson.dumps(wire, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="event-{wanted}.json"'},
    )
