"""The organizations page: every organization the viewer belongs to, its members, and (for admins and owners) adding,
re-roling and removing members.

The rules (who may grant which role, the last admin) live in `faultline.accounts.memberships`, shared with
`faultline orgs …`; this module only turns form posts into those calls and their refusals into inline messages.
An organization the viewer does not belong to is a 404, as everywhere else.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.accounts import invites, memberships
from faultline.accounts import service as accounts
from faultline.accounts.models import Organization
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_serial_id, parse_uuid
from faultline.web import flash, forms
from faultline.web.deps import Viewer, csrf_form, viewer
from faultline.web.errors import WebError, not_found
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

PAGE = "/organizations"


def _render(
    request: Request,
    who: Viewer,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    add_form: dict[str, dict[str, str]] | None = None,
    invite: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    with get_db(request).read() as session:
        orgs: list[dict[str, Any]] = []
        for org, level in memberships.user_organizations(session, who.user.id):
            orgs.append(
                {
                    "org": org,
                    "role": memberships.role_name(level),
                    "can_manage": memberships.can_manage(level, is_staff=who.user.is_staff),
                    "members": memberships.members(session, org.id),
                    "projects": [p for p in who.projects if p.organization_id == org.id],
                }
            )
    context = {
        "page_title": "Organizations",
        "nav": "organizations",
        "organizations": orgs,
        "roles": list(memberships.ROLES),
        "errors": errors or {},
        "add_form": add_form or {},
        "invite": invite,
    }
    return get_templates(request).response(request, "organizations.html", context, status_code=status_code)


@router.get(PAGE)
def organizations_page(request: Request, who: Viewer = Depends(viewer)) -> Response:
    return _render(request, who)


def _organization(request: Request, who: Viewer, raw_id: str) -> tuple[Organization, int | None]:
    """The organization (404 unless the viewer belongs to it) and the level the viewer acts with (None = staff)."""
    org_id = parse_uuid(raw_id)
    if org_id is None:
        raise not_found("organization")
    with get_db(request).read() as session:
        org = session.get(Organization, org_id)
        level = memberships.level_of(session, org_id, who.user.id) if org is not None else None
    if org is None or level is None:
        raise not_found("organization")
    if not memberships.can_manage(level, is_staff=who.user.is_staff):
        raise WebError(403, "Only organization admins and owners can manage members.")
    return org, None if who.user.is_staff else level


def _member_id(raw: str) -> int:
    user_id = parse_serial_id(raw)
    if user_id is None:
        raise not_found("member")
    return user_id


def _done(request: Request, message: str) -> Response:
    response = RedirectResponse(PAGE, status_code=303)
    flash.add(request, response, message)
    return response


@router.post(PAGE + "/{org_id}/members")
def add_member(
    request: Request, org_id: str, form: FormData = Depends(csrf_form), who: Viewer = Depends(viewer)
) -> Response:
    org, actor = _organization(request, who, org_id)
    email = forms.text(form, "email", 300).strip()
    role = forms.text(form, "role", 20) or "member"
    key = str(org.id)
    created: invites.Invite | None = None
    try:
        with get_db(request).write() as session:
            level = memberships.parse_role(role)
            if email and accounts.get_user_by_email(session, email) is None:
                # No account yet: a one-time invitation link instead (shown once, below).
                created = invites.create(session, org.id, email, level, actor_level=actor, created_by=who.user.id)
            else:
                member = memberships.add(session, org.id, email, level, actor_level=actor)
    except accounts.AccountError as exc:
        return _render(
            request,
            who,
            errors={key: {"email": str(exc)}},
            add_form={key: {"email": email, "role": role}},
            status_code=400,
        )
    if created is not None:
        link = request.app.state.settings.public_url.rstrip("/") + f"/invite/{created.token}"
        invite = {"org": org.name, "email": created.email, "role": created.role, "link": link}
        return _render(request, who, invite=invite)
    return _done(request, f"Added {member.user.email} to {org.name} as {member.role}.")


@router.post(PAGE + "/{org_id}/members/{user_id}/role")
def change_role(
    request: Request,
    org_id: str,
    user_id: str,
    form: FormData = Depends(csrf_form),
    who: Viewer = Depends(viewer),
) -> Response:
    org, actor = _organization(request, who, org_id)
    member_id = _member_id(user_id)
    try:
        with get_db(request).write() as session:
            level = memberships.parse_role(forms.text(form, "role", 20))
            memberships.set_level(session, org.id, member_id, level, actor_level=actor)
    except accounts.AccountError as exc:
        return _render(request, who, errors={str(org.id): {"members": str(exc)}}, status_code=400)
    return _done(request, f"Role changed to {memberships.role_name(level)}.")


@router.post(PAGE + "/{org_id}/members/{user_id}/remove")
def remove_member(
    request: Request,
    org_id: str,
    user_id: str,
    _form: FormData = Depends(csrf_form),
    who: Viewer = Depends(viewer),
) -> Response:
    org, actor = _organization(request, who, org_id)
    member_id = _member_id(user_id)
    try:
        with get_db(request).write() as session:
            memberships.remove(session, org.id, member_id, actor_level=actor)
    except accounts.AccountError as exc:
        return _render(request, who, errors={str(org.id): {"members": str(exc)}}, status_code=400)
    if member_id == who.user.id:
        response = RedirectResponse("/projects/", status_code=303)
        flash.add(request, response, f"You left {org.name}.")
        return response
    return _done(request, f"Removed the member from {org.name}.")
