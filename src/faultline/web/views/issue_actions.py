"""Forms on the issue page: status, severity, title, assignee, merge and split.

Input is validated by the REST API's own schemas (`IssueUpdateIn`, `AssignIn`, `MergeIn`, `SplitIn`) and applied by
`faultline.issues.service`, so activity entries and lifecycle notifications are exactly the API's. A refused form
re-renders the issue page with the message next to the control (400), never an error page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_uuid
from faultline.issues import comments, service
from faultline.issues.schemas import MAX_IDS, AssignIn, IssueUpdateIn, MergeIn, SplitIn
from faultline.web import flash, forms
from faultline.web.deps import ProjectPage, csrf_form, project_page
from faultline.web.people import parse_assignee
from faultline.web.views.issue_detail import issue_url, parse_issue_id, render_issue

router = Router(include_in_schema=False)

STATUS_MESSAGES = {"resolved": "Issue resolved.", "suppressed": "Issue suppressed.", "active": "Issue reopened."}


class Refused(Exception):
    """A form the page answers with an inline message: `field` names the control it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _validated(model: type[BaseModel], payload: dict[str, Any], field: str) -> Any:
    body, errors = forms.validate(model, payload)
    if body is None:
        raise Refused(field, next(iter(errors.values())))
    return body


def _run(
    request: Request,
    page: ProjectPage,
    issue_id: uuid.UUID,
    action: Callable[[Session], str],
    *,
    target: str | None = None,
) -> Response:
    """Apply `action` in one write transaction; redirect with its message, or re-render with the refusal."""
    try:
        with get_db(request).write() as session:
            message = action(session)
    except Refused as exc:
        return render_issue(request, page, issue_id, errors={exc.field: exc.message}, status_code=400)
    except service.IssueNotFound:
        return render_issue(request, page, issue_id)  # raises the 404 page
    except service.IssueError as exc:
        return render_issue(request, page, issue_id, errors={"form": str(exc)}, status_code=400)
    response = RedirectResponse(target or issue_url(page.project.id, issue_id), status_code=303)
    flash.add(request, response, message)
    return response


@router.post("/project/{project_id}/issues/{issue_id}/status")
def set_status(
    request: Request, issue_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    parsed = parse_issue_id(issue_id)

    def action(session: Session) -> str:
        body = _validated(IssueUpdateIn, {"status": forms.text(form, "status", 50)}, "status")
        service.update_issue(session, page.project.id, parsed, {"status": body.status}, page.user)
        return STATUS_MESSAGES[body.status]

    return _run(request, page, parsed, action)


@router.post("/project/{project_id}/issues/{issue_id}/severity")
def set_severity(
    request: Request, issue_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    parsed = parse_issue_id(issue_id)

    def action(session: Session) -> str:
        raw = forms.text(form, "severity", 50)
        body = _validated(IssueUpdateIn, {"severity": raw or None}, "severity")
        service.update_issue(session, page.project.id, parsed, {"severity": body.severity}, page.user)
        return f"Severity set to {body.severity}." if body.severity else "Severity cleared."

    return _run(request, page, parsed, action)


@router.post("/project/{project_id}/issues/{issue_id}/rename")
def rename(
    request: Request, issue_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    parsed = parse_issue_id(issue_id)

    def action(session: Session) -> str:
        name = forms.text(form, "name", 100_000).strip()
        description = forms.text(form, "description", 100_000).strip()
        if not name:
            raise Refused("name", "The issue needs a title.")
        body = _validated(IssueUpdateIn, {"name": name, "description": description or None}, "name")
        service.update_issue(
            session, page.project.id, parsed, {"name": body.name, "description": body.description}, page.user
        )
        return "Title and description saved."

    return _run(request, page, parsed, action)


@router.post("/project/{project_id}/issues/{issue_id}/assign")
def assign(
    request: Request, issue_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    parsed = parse_issue_id(issue_id)

    def action(session: Session) -> str:
        raw = forms.text(form, "assignee", 100)
        chosen = parse_assignee(raw) if raw else None
        if raw and chosen is None:
            raise Refused("assignee", "Choose someone from the list.")
        payload = {"assignee": {"type": chosen[0], "id": str(chosen[1])} if chosen else None}
        body = _validated(AssignIn, payload, "assignee")
        assignee = body.assignee.to_assignee() if body.assignee is not None else None
        try:
            changed = service.assign_issue(
                session, page.project.id, page.project.organization_id, parsed, assignee, page.user
            )
        except service.AssigneeNotInOrganization as exc:
            raise Refused("assignee", str(exc)) from None
        if not changed:
            return "Nothing changed."
        return "Issue assigned." if assignee is not None else "Issue unassigned."

    return _run(request, page, parsed, action)


@router.post("/project/{project_id}/issues/{issue_id}/merge")
def merge(
    request: Request, issue_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    parsed = parse_issue_id(issue_id)

    def action(session: Session) -> str:
        ids = [raw for raw in forms.texts(form, "ids", limit=64, count=MAX_IDS) if parse_uuid(raw) is not None]
        if not ids:
            raise Refused("merge", "Tick the issues to merge into this one.")
        body = _validated(MergeIn, {"ids": ids}, "merge")
        outcome = service.merge_issues(session, page.project.id, parsed, body.ids, page.user)
        if outcome.result is not service.MergeResult.MERGED:
            raise Refused("merge", "None of the ticked issues can be merged (already merged or deleted).")
        count = len(outcome.merged_issue_ids)
        return f"Merged {count} issue{'s' if count != 1 else ''} into this one."

    return _run(request, page, parsed, action)


@router.post("/project/{project_id}/issues/{issue_id}/split")
def split(
    request: Request, issue_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    parsed = parse_issue_id(issue_id)

    def action(session: Session) -> str:
        chosen = list(dict.fromkeys(forms.texts(form, "fingerprints", limit=20_000, count=MAX_IDS)))
        if not chosen:
            raise Refused("split", "Tick the fingerprints to move into new issues.")
        body = _validated(SplitIn, {"fingerprints": [{"fingerprint": value} for value in chosen]}, "split")
        requests = [service.SplitRequest(fingerprint=f.fingerprint) for f in body.fingerprints]
        try:
            new_ids = service.split_issue(session, page.project.id, parsed, requests, page.user, keep_one=True)
        except service.KeepOneFingerprint as exc:
            raise Refused("split", exc.detail) from None
        if not new_ids:
            raise Refused("split", "Those fingerprints no longer belong to this issue.")
        if len(new_ids) == 1:
            return "Split 1 fingerprint off into a new issue."
        return f"Split {len(new_ids)} fingerprints off into new issues."

    return _run(request, page, parsed, action)


@router.post("/project/{project_id}/issues/{issue_id}/comment")
def comment(
    request: Request, issue_id: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    """A comment in the issue's activity (`faultline.issues.comments`, the API's `…/comments/`)."""
    parsed = parse_issue_id(issue_id)

    def action(session: Session) -> str:
        try:
            comments.add_comment(
                session,
                page.project.id,
                parsed,
                page.user.id,
                forms.text(form, "content", comments.MAX_COMMENT_CHARS * 2),
            )
        except comments.InvalidComment as exc:
            raise Refused("comment", str(exc)) from None
        return "Comment added."

    return _run(request, page, parsed, action, target=issue_url(page.project.id, parsed) + "#activity-title")
