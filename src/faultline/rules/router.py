"""REST endpoints for suppression, grouping, assignment, bypass and severity rules (spec §2.6–§2.9).

Status codes follow PostHog exactly, including the surprising ones: updates and reorder answer **204** with no
body, the grouping-rule list is unpaginated (`{"results": [...]}`), the other lists are LimitOffset pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Response
from sqlalchemy.orm import Session

from faultline.accounts.access import ProjectContext, project_access
from faultline.config import Settings
from faultline.db import utcnow
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION, get_settings
from faultline.http.pagination import Page, PageParams, page_params, paginate_query
from faultline.http.routing import Router
from faultline.protocol.seams import Assignee
from faultline.rules import preview as previews
from faultline.rules import schemas
from faultline.rules import service as rules
from faultline.rules.models import AssignmentRule, BypassRule, GroupingRule, SeverityRule, SuppressionRule
from faultline.rules.schemas import drf_int
from faultline.rules.service import RuleModel

router = Router(tags=["error tracking rules"])

READ = project_access("error_tracking:read")
WRITE = project_access("error_tracking:write")
NO_CONTENT = {204: {"description": "Updated (no body)."}}


def _no_content() -> Response:
    return Response(status_code=204)


def _get_or_404(session: Session, model: RuleModel, ctx: ProjectContext, rule_id: str) -> Any:
    rule = rules.get_rule(session, model, ctx.project_id, rule_id)
    if rule is None:
        raise errors.not_found()
    return rule


def _assignee(value: schemas.RuleAssigneeIn | None) -> Assignee | None:
    return value.to_assignee() if value is not None else None


def _reorder(session: Session, model: RuleModel, ctx: ProjectContext, body: schemas.ReorderIn | None) -> Response:
    orders: dict[str, int] = {}
    for key, value in ((body.orders if body is not None else None) or {}).items():
        try:
            orders[key] = drf_int(value)
        except errors.FieldError as exc:
            raise errors.validation_error(str(exc), f"orders__{key}", code=exc.code) from None
    rules.reorder_rules(session, model, ctx.project_id, orders)
    return _no_content()


# ------------------------------------------------------------------------------------------------- serializers


def suppression_out(rule: SuppressionRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "filters": rule.filters,
        "order_key": rule.order_key,
        "disabled_data": rule.disabled_data,
        "sampling_rate": rule.sampling_rate,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def grouping_out(rule: GroupingRule, issue: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": rule.id,
        "filters": rule.filters,
        "assignee": rules.assignee_json(rule),
        "description": rule.description,
        "issue": issue,
        "order_key": rule.order_key,
        "disabled_data": rule.disabled_data,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


def assignment_out(rule: AssignmentRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "filters": rule.filters,
        "assignee": rules.assignee_json(rule),
        "order_key": rule.order_key,
        "disabled_data": rule.disabled_data,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


# ------------------------------------------------------------------------------------------------- suppression

SUPPRESSION = "/error_tracking/suppression_rules/"


@router.get(SUPPRESSION, response_model=Page[schemas.SuppressionRuleOut], summary="List suppression rules")
def list_suppression_rules(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    return paginate_query(session, page, rules.list_rules(session, SuppressionRule, ctx.project_id), suppression_out)


@router.post(
    SUPPRESSION, response_model=schemas.SuppressionRuleOut, status_code=201, summary="Create a suppression rule"
)
def create_suppression_rule(
    body: schemas.SuppressionRuleCreate | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    body = body or schemas.SuppressionRuleCreate()
    rule = rules.create_suppression_rule(
        session, ctx.project_id, filters=body.filters, sampling_rate=float(body.sampling_rate)
    )
    return suppression_out(rule)


@router.get(
    SUPPRESSION + "{rule_id}/", response_model=schemas.SuppressionRuleOut, summary="Retrieve a suppression rule"
)
def get_suppression_rule(
    rule_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    return suppression_out(_get_or_404(session, SuppressionRule, ctx, rule_id))


def _update_suppression_rule(
    rule_id: str,
    body: schemas.SuppressionRuleUpdate | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    rule = _get_or_404(session, SuppressionRule, ctx, rule_id)
    body = body or schemas.SuppressionRuleUpdate()
    rules.update_suppression_rule(session, rule, filters=body.filters, sampling_rate=body.sampling_rate)
    return _no_content()


# ------------------------------------------------------------------------------------------------- grouping

GROUPING = "/error_tracking/grouping_rules/"


@router.get(GROUPING, response_model=schemas.GroupingRuleList, summary="List grouping rules (unpaginated)")
def list_grouping_rules(ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION) -> dict[str, Any]:
    found = list(session.execute(rules.list_rules(session, GroupingRule, ctx.project_id)).scalars())
    issues = rules.grouping_rule_issues(session, ctx.project_id, [rule.id for rule in found])
    return {"results": [grouping_out(rule, issues.get(rule.id)) for rule in found]}


@router.post(GROUPING, response_model=schemas.GroupingRuleOut, status_code=201, summary="Create a grouping rule")
def create_grouping_rule(
    body: schemas.GroupingRuleCreate,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    rule = rules.create_grouping_rule(
        session, ctx.project, filters=body.filters, assignee=_assignee(body.assignee), description=body.description
    )
    return grouping_out(rule, None)


@router.get(GROUPING + "{rule_id}/", response_model=schemas.GroupingRuleOut, summary="Retrieve a grouping rule")
def get_grouping_rule(
    rule_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    rule = _get_or_404(session, GroupingRule, ctx, rule_id)
    return grouping_out(rule, rules.grouping_rule_issues(session, ctx.project_id, [rule.id]).get(rule.id))


def _update_grouping_rule(
    rule_id: str,
    body: schemas.GroupingRuleUpdate | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    rule = _get_or_404(session, GroupingRule, ctx, rule_id)
    rules.update_grouping_rule(session, rule, filters=body.filters if body else None)
    return _no_content()


# ------------------------------------------------------------------------------------------------- assignment

ASSIGNMENT = "/error_tracking/assignment_rules/"


@router.get(ASSIGNMENT, response_model=Page[schemas.AssignmentRuleOut], summary="List assignment rules")
def list_assignment_rules(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    return paginate_query(session, page, rules.list_rules(session, AssignmentRule, ctx.project_id), assignment_out)


@router.post(ASSIGNMENT, response_model=schemas.AssignmentRuleOut, status_code=201, summary="Create an assignment rule")
def create_assignment_rule(
    body: schemas.AssignmentRuleCreate,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    assignee = _assignee(body.assignee)
    assert assignee is not None  # the schema refuses null
    rule = rules.create_assignment_rule(
        session, ctx.project, filters=body.filters, assignee=assignee, order_key=body.order_key
    )
    return assignment_out(rule)


@router.get(ASSIGNMENT + "{rule_id}/", response_model=schemas.AssignmentRuleOut, summary="Retrieve an assignment rule")
def get_assignment_rule(
    rule_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    return assignment_out(_get_or_404(session, AssignmentRule, ctx, rule_id))


def _update_assignment_rule(
    rule_id: str,
    body: schemas.AssignmentRuleUpdate | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    rule = _get_or_404(session, AssignmentRule, ctx, rule_id)
    body = body or schemas.AssignmentRuleUpdate()
    rules.update_assignment_rule(session, ctx.project, rule, filters=body.filters, assignee=_assignee(body.assignee))
    return _no_content()


# ------------------------------------------------------------------------------------------------- bypass

BYPASS = "/error_tracking/bypass_rules/"


def bypass_out(rule: BypassRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "filters": rule.filters,
        "order_key": rule.order_key,
        "disabled_data": rule.disabled_data,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


@router.get(BYPASS, response_model=Page[schemas.BypassRuleOut], summary="List bypass rules")
def list_bypass_rules(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    return paginate_query(session, page, rules.list_rules(session, BypassRule, ctx.project_id), bypass_out)


@router.post(BYPASS, response_model=schemas.BypassRuleOut, status_code=201, summary="Create a bypass rule")
def create_bypass_rule(
    body: schemas.BypassRuleCreate,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    rule = rules.create_bypass_rule(session, ctx.project_id, filters=body.filters, order_key=body.order_key)
    return bypass_out(rule)


@router.get(BYPASS + "{rule_id}/", response_model=schemas.BypassRuleOut, summary="Retrieve a bypass rule")
def get_bypass_rule(
    rule_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    return bypass_out(_get_or_404(session, BypassRule, ctx, rule_id))


def _update_bypass_rule(
    rule_id: str,
    body: schemas.BypassRuleUpdate | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    rule = _get_or_404(session, BypassRule, ctx, rule_id)
    rules.update_bypass_rule(session, rule, filters=body.filters if body else None)
    return _no_content()


# ------------------------------------------------------------------------------------------------- severity

SEVERITY = "/error_tracking/severity_rules/"


def severity_out(rule: SeverityRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "filters": rule.filters,
        "severity": rule.severity,
        "order_key": rule.order_key,
        "disabled_data": rule.disabled_data,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


@router.get(SEVERITY, response_model=Page[schemas.SeverityRuleOut], summary="List severity rules")
def list_severity_rules(
    ctx: ProjectContext = Depends(READ),
    session: Session = READ_SESSION,
    page: PageParams = Depends(page_params),
) -> dict[str, Any]:
    return paginate_query(session, page, rules.list_rules(session, SeverityRule, ctx.project_id), severity_out)


@router.post(SEVERITY, response_model=schemas.SeverityRuleOut, status_code=201, summary="Create a severity rule")
def create_severity_rule(
    body: schemas.SeverityRuleCreate,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    rule = rules.create_severity_rule(
        session, ctx.project_id, filters=body.filters, severity=body.severity, order_key=body.order_key
    )
    return severity_out(rule)


@router.get(SEVERITY + "{rule_id}/", response_model=schemas.SeverityRuleOut, summary="Retrieve a severity rule")
def get_severity_rule(
    rule_id: str, ctx: ProjectContext = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    return severity_out(_get_or_404(session, SeverityRule, ctx, rule_id))


def _update_severity_rule(
    rule_id: str,
    body: schemas.SeverityRuleUpdate | None = None,
    ctx: ProjectContext = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> Response:
    rule = _get_or_404(session, SeverityRule, ctx, rule_id)
    body = body or schemas.SeverityRuleUpdate()
    rules.update_severity_rule(session, rule, filters=body.filters, severity=body.severity)
    return _no_content()


def _reorder_handler(model: RuleModel) -> Callable[..., Response]:
    def reorder(
        body: schemas.ReorderIn | None = None,
        ctx: ProjectContext = Depends(WRITE),
        session: Session = WRITE_SESSION,
    ) -> Response:
        return _reorder(session, model, ctx, body)

    return reorder


def _delete_handler(model: RuleModel) -> Callable[..., Response]:
    def delete(rule_id: str, ctx: ProjectContext = Depends(WRITE), session: Session = WRITE_SESSION) -> Response:
        if not rules.delete_rule(session, model, ctx.project_id, rule_id):
            raise errors.not_found()
        return _no_content()

    return delete


# Reorder and delete are the same for every kind of rule; PUT and PATCH behave the same (every field optional,
# 204). `reorder/` is registered before `{rule_id}/` so that PATCH reorder/ is not taken for a rule id.
for _path, _model, _handler, _noun in (
    (SUPPRESSION, SuppressionRule, _update_suppression_rule, "suppression"),
    (GROUPING, GroupingRule, _update_grouping_rule, "grouping"),
    (ASSIGNMENT, AssignmentRule, _update_assignment_rule, "assignment"),
    (BYPASS, BypassRule, _update_bypass_rule, "bypass"),
    (SEVERITY, SeverityRule, _update_severity_rule, "severity"),
):
    router.add_api_route(
        _path + "reorder/",
        _reorder_handler(_model),
        methods=["PATCH"],
        status_code=204,
        responses=NO_CONTENT,
        summary=f"Reorder {_noun} rules",
        name=f"reorder_{_noun}_rules",
        response_class=Response,
    )
    router.add_api_route(
        _path + "{rule_id}/",
        _delete_handler(_model),
        methods=["DELETE"],
        status_code=204,
        summary=f"Delete a{'n' if _noun[0] == 'a' else ''} {_noun} rule",
        name=f"delete_{_noun}_rule",
        response_class=Response,
    )
    for _method in ("PUT", "PATCH"):
        router.add_api_route(
            _path + "{rule_id}/",
            _handler,
            methods=[_method],
            status_code=204,
            responses=NO_CONTENT,
            summary=f"Update a {_noun} rule (re-enables it)",
            name=f"{_method.lower()}_{_noun}_rule",
            response_class=Response,
        )


# ------------------------------------------------------------------------------------------------- dry run


def _dry_run_handler(kind: previews.PreviewKind) -> Callable[..., dict[str, Any]]:
    def dry_run(
        body: schemas.RuleDryRunIn | None = None,
        ctx: ProjectContext = Depends(READ),
        session: Session = READ_SESSION,
        settings: Settings = Depends(get_settings),
    ) -> dict[str, Any]:
        body = body or schemas.RuleDryRunIn()
        result = previews.preview_rule(
            session,
            ctx.project_id,
            kind,
            body.filters,
            now=utcnow(),
            limit=settings.rule_preview_events,
            sampling_rate=float(body.sampling_rate),
        )
        return {**result.as_json(), "summary": previews.describe(result)}

    return dry_run


for _kind, _base in (("suppression", SUPPRESSION), ("grouping", GROUPING), ("assignment", ASSIGNMENT)):
    router.post(
        _base + "dry_run/",
        response_model=schemas.RuleDryRunOut,
        summary=f"Preview a {_kind} rule on the last 7 days' events (nothing is saved)",
    )(_dry_run_handler(_kind))  # type: ignore[arg-type]
