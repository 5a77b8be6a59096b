"""Suppression, grouping, assignment, bypass and severity rules: ordered lists with up/down reordering, a filter
editor, enable/delete.

Writes go through `faultline.rules.service` after validation by the REST API's schemas (`SuppressionRuleCreate`…),
so the config revision bumps, remote config refreshes and the messages match the API's. What a page action means
(a new rule goes last, moving swaps with a neighbour, enabling clears the digest's disable) is decided there too.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.accounts.models import Project
from faultline.db import utcnow
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.rules import preview as previews
from faultline.rules import schemas
from faultline.rules import service as rules
from faultline.rules.models import AssignmentRule, BypassRule, GroupingRule, SeverityRule, SuppressionRule
from faultline.rules.service import RuleError, RuleModel
from faultline.web import flash, forms, rule_editor
from faultline.web.deps import ProjectPage, csrf_form, project_page
from faultline.web.errors import not_found
from faultline.web.people import Directory, parse_assignee, value_of
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)


@dataclass(frozen=True)
class Kind:
    slug: str
    model: RuleModel
    title: str
    noun: str
    blurb: str
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]


KINDS: dict[str, Kind] = {
    "suppression": Kind(
        "suppression",
        SuppressionRule,
        "Suppression rules",
        "suppression rule",
        "Matching events are dropped before they create or update an issue (a sampling rate below 1 drops only "
        "that share). SDKs receive simple rules in remote config and drop those events in the browser already.",
        schemas.SuppressionRuleCreate,
        schemas.SuppressionRuleUpdate,
    ),
    "grouping": Kind(
        "grouping",
        GroupingRule,
        "Grouping rules",
        "grouping rule",
        "Every event a rule matches goes into one issue of its own, whatever its stack trace — the first matching "
        "rule wins. The issue can be assigned automatically.",
        schemas.GroupingRuleCreate,
        schemas.GroupingRuleUpdate,
    ),
    "assignment": Kind(
        "assignment",
        AssignmentRule,
        "Assignment rules",
        "assignment rule",
        "New and reopened issues whose event matches are assigned to a person or role — the first matching rule wins.",
        schemas.AssignmentRuleCreate,
        schemas.AssignmentRuleUpdate,
    ),
    "bypass": Kind(
        "bypass",
        BypassRule,
        "Bypass rules",
        "bypass rule",
        "Matching events are exempt from the per-issue rate limit (error-tracking settings): they are always stored. "
        "The project rate limit is applied at capture, before any rule can be evaluated, and still applies.",
        schemas.BypassRuleCreate,
        schemas.BypassRuleUpdate,
    ),
    "severity": Kind(
        "severity",
        SeverityRule,
        "Severity rules",
        "severity rule",
        "A new issue whose first event matches gets the rule's severity — the first matching rule wins. Filter and "
        "sort the issue list by severity.",
        schemas.SeverityRuleCreate,
        schemas.SeverityRuleUpdate,
    ),
}


def _kind(slug: str) -> Kind:
    kind = KINDS.get(slug)
    if kind is None:
        raise not_found("rule list")
    return kind


def rules_url(project_id: int, kind: Kind) -> str:
    return f"/project/{project_id}/rules/{kind.slug}"


def _rule_or_404(session: Session, kind: Kind, project_id: int, rule_id: str) -> Any:
    rule = rules.get_rule(session, kind.model, project_id, rule_id)
    if rule is None:
        raise not_found("rule")
    return rule


def _rule_view(rule: Any, directory: Directory, issues: Mapping[uuid.UUID, Any]) -> dict[str, Any]:
    disabled = rule.disabled_data if isinstance(rule.disabled_data, Mapping) else None
    assignee = rules.assignee_json(rule) if hasattr(rule, "user_id") else None
    return {
        "id": rule.id,
        "summary": rule_editor.describe(rule.filters),
        "sampling_percent": f"{rule.sampling_rate * 100:.4g}" if isinstance(rule, SuppressionRule) else "",
        "description": getattr(rule, "description", None),
        "severity": getattr(rule, "severity", None),
        "assignee": directory.label(assignee),
        "issue": issues.get(rule.id),
        "disabled": disabled is not None or rule.disabled_data is not None,
        "disabled_message": str(disabled.get("message") or "")[:2000] if disabled else "",
        "disabled_props": _pretty(disabled.get("props")) if disabled else "",
        "updated_at": rule.updated_at,
    }


def _pretty(value: Any, limit: int = 20_000) -> str:
    if value is None:
        return ""
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= limit else text[:limit] + "\n…"


def _form_values(rule: Any) -> dict[str, Any]:
    if rule is None:
        return {"sampling_rate": "1", "description": "", "assignee": "", "severity": "high"}
    return {
        "severity": getattr(rule, "severity", "high"),
        "sampling_rate": f"{getattr(rule, 'sampling_rate', 1):g}",
        "description": getattr(rule, "description", None) or "",
        "assignee": value_of(rules.assignee_json(rule)) if hasattr(rule, "user_id") else "",
    }


def render_rules(
    request: Request,
    page: ProjectPage,
    kind: Kind,
    *,
    editing: str | None = None,
    editor: rule_editor.EditorState | None = None,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
    preview: RulePreviewView | None = None,
) -> Response:
    project_id = page.project.id
    with get_db(request).read() as session:
        directory = Directory.load(session, page.project.organization_id, page.user.id)
        found = list(session.execute(rules.list_rules(session, kind.model, project_id)).scalars())
        issues = (
            rules.grouping_rule_issues(session, project_id, [r.id for r in found]) if kind.slug == "grouping" else {}
        )
        rule = _rule_or_404(session, kind, project_id, editing) if editing is not None else None
        views = [_rule_view(item, directory, issues) for item in found]
        if editor is None:
            editor = rule_editor.from_filters(rule.filters) if rule is not None else rule_editor.EditorState()
        if values is None:
            values = _form_values(rule)
        edited = _rule_view(rule, directory, issues) if rule is not None else None
    context = {
        "page_title": f"{kind.title} · {page.project.name}",
        "project": page.project,
        "nav": "rules",
        "switch_section": f"rules/{kind.slug}",
        "kind": kind,
        "kinds": KINDS,
        "rules": views,
        "editing": edited,
        "editor": editor,
        "values": values,
        "errors": dict(errors or {}),
        "directory": directory,
        "operators": rule_editor.OPERATOR_CHOICES,
        "key_suggestions": rule_editor.KEY_SUGGESTIONS,
        "base_url": rules_url(project_id, kind),
        "preview": preview,
    }
    return get_templates(request).response(request, "rules.html", context, status_code=status_code)


@router.get("/project/{project_id}/rules/")
def rules_index(page: ProjectPage = Depends(project_page)) -> Response:
    return RedirectResponse(rules_url(page.project.id, KINDS["suppression"]), status_code=303)


@router.get("/project/{project_id}/rules/{kind}")
def rules_page(request: Request, kind: str, page: ProjectPage = Depends(project_page)) -> Response:
    return render_rules(request, page, _kind(kind))


@router.get("/project/{project_id}/rules/{kind}/{rule_id}")
def edit_page(request: Request, kind: str, rule_id: str, page: ProjectPage = Depends(project_page)) -> Response:
    return render_rules(request, page, _kind(kind), editing=rule_id)


def _payload(kind: Kind, form: FormData, filters: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], str]:
    """The REST request body for this form, and an error for an assignee that is not in the list ('' if fine)."""
    payload: dict[str, Any] = {"filters": filters}
    problem = ""
    if kind.slug == "suppression":
        payload["sampling_rate"] = forms.text(form, "sampling_rate", 100).strip() or "1"
    if kind.slug in ("grouping", "assignment"):
        raw = forms.text(form, "assignee", 100)
        chosen = parse_assignee(raw) if raw else None
        if raw and chosen is None:
            problem = "Choose someone from the list."
        if chosen is not None or (kind.slug == "assignment" and creating):
            payload["assignee"] = {"type": chosen[0], "id": str(chosen[1])} if chosen else None
    if kind.slug == "severity":
        payload["severity"] = forms.text(form, "severity", 20)
    if kind.slug == "grouping" and creating:
        payload["description"] = forms.text(form, "description", 20_000).strip() or None
    return payload, problem


def _field_of(attr: str) -> str:
    head = attr.split("__", 1)[0]
    return head if head in ("filters", "sampling_rate", "assignee", "description", "severity") else "form"


def _save(session: Session, kind: Kind, project: Project, body: Any, rule: Any) -> Any:
    assignee = body.assignee.to_assignee() if getattr(body, "assignee", None) is not None else None
    if rule is None:
        if kind.slug == "suppression":
            created = rules.create_suppression_rule(
                session, project.id, filters=body.filters, sampling_rate=float(body.sampling_rate)
            )
        elif kind.slug == "grouping":
            created = rules.create_grouping_rule(
                session, project, filters=body.filters, assignee=assignee, description=body.description
            )
        elif kind.slug == "bypass":
            created = rules.create_bypass_rule(session, project.id, filters=body.filters)
        elif kind.slug == "severity":
            created = rules.create_severity_rule(session, project.id, filters=body.filters, severity=body.severity)
        else:
            assert assignee is not None
            created = rules.create_assignment_rule(
                session, project, filters=body.filters, assignee=assignee, order_key=0
            )
        rules.place_last(session, kind.model, project.id, created)
        return created
    if kind.slug == "suppression":
        rules.update_suppression_rule(session, rule, filters=body.filters, sampling_rate=body.sampling_rate)
    elif kind.slug == "grouping":
        rules.update_grouping_rule(session, rule, filters=body.filters)
    elif kind.slug == "bypass":
        rules.update_bypass_rule(session, rule, filters=body.filters)
    elif kind.slug == "severity":
        rules.update_severity_rule(session, rule, filters=body.filters, severity=body.severity)
    else:
        rules.update_assignment_rule(session, project, rule, filters=body.filters, assignee=assignee)
    return rule


@dataclass(frozen=True)
class RulePreviewView:
    """The dry run shown above the save button, and the digest of the exact rule it was computed for."""

    result: previews.RulePreview
    summary: str
    digest: str


def _digest(payload: Mapping[str, Any]) -> str:
    """Identifies the rule as previewed: saving needs the preview of exactly this rule to have been shown."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:32]


def _preview(request: Request, page: ProjectPage, kind: Kind, body: Any, payload: Mapping[str, Any]) -> RulePreviewView:
    with get_db(request).read() as session:
        result = previews.preview_rule(
            session,
            page.project.id,
            kind.slug,  # type: ignore[arg-type]
            getattr(body, "filters", None),
            now=utcnow(),
            limit=request.app.state.settings.rule_preview_events,
            sampling_rate=float(getattr(body, "sampling_rate", None) or 1.0) if kind.slug == "suppression" else 1.0,
        )
    return RulePreviewView(result, previews.describe(result), _digest(payload))


def _submit(request: Request, page: ProjectPage, kind: Kind, form: FormData, rule_id: str | None) -> Response:
    editor, filters, errors = rule_editor.from_form(form)
    values = {
        "sampling_rate": forms.text(form, "sampling_rate", 100),
        "description": forms.text(form, "description", 20_000),
        "assignee": forms.text(form, "assignee", 100),
        "severity": forms.text(form, "severity", 20),
    }

    def refuse(problems: Mapping[str, str], preview: RulePreviewView | None = None) -> Response:
        return render_rules(
            request,
            page,
            kind,
            editing=rule_id,
            editor=editor,
            values=values,
            errors=problems,
            status_code=400,
            preview=preview,
        )

    if filters is None:
        return refuse(errors)
    payload, problem = _payload(kind, form, filters, creating=rule_id is None)
    if problem:
        return refuse({"assignee": problem})
    schema = kind.create_schema if rule_id is None else kind.update_schema
    body, schema_errors = forms.validate(schema, payload)
    if body is None:
        return refuse({_field_of(attr): message for attr, message in schema_errors.items()})
    # Nothing is saved before its preview was shown: the first submit answers with what the rule would have done
    # over the last 7 days; the second (same rule, `preview_of` = its digest) saves it. A rule that matches
    # everything also needs the "yes, every event" box ticked.
    try:
        shown = _preview(request, page, kind, body, payload)
    except RuleError as exc:
        return refuse({_field_of(exc.attr or "form"): str(exc)})
    if forms.text(form, "preview_of", 100) != shown.digest:
        return render_rules(
            request, page, kind, editing=rule_id, editor=editor, values=values, preview=shown, status_code=200
        )
    if shown.result.matches_everything and forms.text(form, "confirm_all", 10) != "yes":
        return refuse({"confirm_all": "This rule applies to every event: tick the box to confirm."}, shown)
    try:
        with get_db(request).write() as session:
            rule = _rule_or_404(session, kind, page.project.id, rule_id) if rule_id is not None else None
            _save(session, kind, page.project, body, rule)
    except RuleError as exc:
        return refuse({_field_of(exc.attr or "form"): str(exc)})
    response = RedirectResponse(rules_url(page.project.id, kind), status_code=303)
    flash.add(request, response, f"{kind.noun.capitalize()} {'created' if rule_id is None else 'saved'}.")
    return response


@router.post("/project/{project_id}/rules/{kind}")
def create_rule(
    request: Request, kind: str, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    return _submit(request, page, _kind(kind), form, None)


@router.post("/project/{project_id}/rules/{kind}/{rule_id}")
def update_rule(
    request: Request,
    kind: str,
    rule_id: str,
    form: FormData = Depends(csrf_form),
    page: ProjectPage = Depends(project_page),
) -> Response:
    chosen = _kind(kind)
    with get_db(request).read() as session:
        _rule_or_404(session, chosen, page.project.id, rule_id)
    return _submit(request, page, chosen, form, rule_id)


def _done(request: Request, page: ProjectPage, kind: Kind, message: str) -> Response:
    response = RedirectResponse(rules_url(page.project.id, kind), status_code=303)
    flash.add(request, response, message)
    return response


@router.post("/project/{project_id}/rules/{kind}/{rule_id}/move")
def move_rule(
    request: Request,
    kind: str,
    rule_id: str,
    form: FormData = Depends(csrf_form),
    page: ProjectPage = Depends(project_page),
) -> Response:
    chosen = _kind(kind)
    direction = forms.text(form, "direction", 10)
    try:
        with get_db(request).write() as session:
            rule = _rule_or_404(session, chosen, page.project.id, rule_id)
            rules.move_rule(session, chosen.model, page.project.id, rule, direction)
    except RuleError as exc:
        return render_rules(request, page, chosen, errors={"list": exc.detail}, status_code=400)
    return _done(request, page, chosen, f"Rule moved {direction}.")


@router.post("/project/{project_id}/rules/{kind}/{rule_id}/enable")
def enable_rule(
    request: Request,
    kind: str,
    rule_id: str,
    _form: FormData = Depends(csrf_form),
    page: ProjectPage = Depends(project_page),
) -> Response:
    chosen = _kind(kind)
    with get_db(request).write() as session:
        rules.enable_rule(session, _rule_or_404(session, chosen, page.project.id, rule_id))
    return _done(request, page, chosen, "Rule enabled again. If it fails on an event again, it is disabled again.")


@router.post("/project/{project_id}/rules/{kind}/{rule_id}/delete")
def delete_rule(
    request: Request,
    kind: str,
    rule_id: str,
    _form: FormData = Depends(csrf_form),
    page: ProjectPage = Depends(project_page),
) -> Response:
    chosen = _kind(kind)
    with get_db(request).write() as session:
        if not rules.delete_rule(session, chosen.model, page.project.id, rule_id):
            raise not_found("rule")
    return _done(request, page, chosen, f"{chosen.noun.capitalize()} deleted.")
