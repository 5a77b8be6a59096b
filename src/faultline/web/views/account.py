"""The account page: personal API keys (create with scopes, optionally limited to projects and organizations;
revoke), password, signed-in sessions.

Key creation is validated by the REST API's own `APIKeyCreate` schema and performed by the same
`accounts.create_api_key` the API calls; the new key is shown once, on the response to the form, and never again.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.accounts import grants, memberships, time_zones
from faultline.accounts import service as accounts
from faultline.accounts.models import User
from faultline.accounts.router import APIKeyCreate
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.ids import parse_serial_id
from faultline.web import flash, forms, sessions
from faultline.web.deps import Viewer, csrf_form, viewer
from faultline.web.errors import not_found
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)

SCOPE_HELP = {
    "*": "Everything, including future scopes",
    "error_tracking": "Issues, events, rules, symbol sets",
    "project": "Projects and their settings",
    "organization": "Organizations",
    "user": "Your user profile",
    "personal_api_key": "Personal API keys",
    "activity_log": "Activity history",
}


def _scope_rows() -> list[dict[str, str]]:
    return [{"object": obj, "help": SCOPE_HELP.get(obj, "")} for obj in accounts.SCOPE_OBJECTS]


def _render(
    request: Request,
    who: Viewer,
    *,
    new_key: dict[str, Any] | None = None,
    key_form: dict[str, Any] | None = None,
    key_errors: dict[str, str] | None = None,
    password_errors: dict[str, str] | None = None,
    zone_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    db = get_db(request)
    with db.read() as session:
        keys = list(session.execute(accounts.user_api_keys(who.user.id)).scalars())
        live_sessions = sessions.list_for_user(session, who.user.id)
        organizations = [org for org, _level in memberships.user_organizations(session, who.user.id)]
    project_names = {p.id: p.name for p in who.projects}
    context = {
        "page_title": "Account",
        "nav": "account",
        "keys": keys,
        "project_names": project_names,
        "organizations": organizations,
        "organization_names": {str(org.id): org.name for org in organizations},
        "sessions": live_sessions,
        "current_session_id": who.session.id,
        "scope_rows": _scope_rows(),
        "new_key": new_key,
        "key_form": key_form or {"label": "", "scopes": [], "projects": [], "organizations": []},
        "key_errors": key_errors or {},
        "password_errors": password_errors or {},
        "zone_errors": zone_errors or {},
        "time_zones": time_zones.choices(),
        "time_zone": who.user.time_zone or "UTC",
    }
    return get_templates(request).response(request, "account.html", context, status_code=status_code)


@router.get("/account")
def account_page(request: Request, who: Viewer = Depends(viewer)) -> Response:
    return _render(request, who)


def _scopes_from_form(form: FormData) -> list[str]:
    """Checkbox rows `scope:<object>` = none | read | write, plus `scope_all` for `*`."""
    if forms.checkbox(form, "scope_all"):
        return ["*"]
    chosen: list[str] = []
    for obj in accounts.SCOPE_OBJECTS:
        level = forms.text(form, f"scope:{obj}", 10)
        if level in ("read", "write"):
            chosen.append(f"{obj}:{level}")
    return chosen


@router.post("/account/keys")
def create_key(request: Request, form: FormData = Depends(csrf_form), who: Viewer = Depends(viewer)) -> Response:
    label = forms.text(form, "label", 1000)
    scopes = _scopes_from_form(form)
    raw_projects = forms.texts(form, "projects")
    errors: dict[str, str] = {}
    project_ids: list[int] = []
    allowed = {p.id for p in who.projects}
    for raw in raw_projects:
        project_id = parse_serial_id(raw)
        if project_id is None or project_id not in allowed:
            errors["scoped_teams"] = "Choose projects from the list."
            break
        project_ids.append(project_id)
    organization_ids = forms.texts(form, "organizations", limit=64)
    payload = {
        "label": label,
        "scopes": scopes,
        "scoped_teams": project_ids or None,
        "scoped_organizations": organization_ids or None,
    }
    body, schema_errors = forms.validate(APIKeyCreate, payload)
    if not label.strip():
        schema_errors.setdefault("label", "Give the key a label so you recognise it later.")
    errors = {**schema_errors, **errors}
    key_form = {"label": label, "scopes": scopes, "projects": project_ids, "organizations": organization_ids}
    if errors or body is None:
        return _render(request, who, key_form=key_form, key_errors=errors, status_code=400)
    db = get_db(request)
    with db.read() as session:
        try:
            grant = grants.check_new_key(
                session,
                who.user.id,
                grants.Reach.everything(),
                scopes=body.scopes,
                scoped_teams=body.scoped_teams,
                scoped_organizations=body.scoped_organizations,
            )
        except grants.GrantError as exc:
            grant, errors = None, {exc.attr: str(exc)}
    if grant is None:
        return _render(request, who, key_form=key_form, key_errors=errors, status_code=400)
    with db.write() as session:
        user = session.get(User, who.user.id)
        assert user is not None
        key, value = accounts.create_api_key(
            session,
            user,
            label=body.label,
            scopes=grant.scopes,
            scoped_teams=grant.scoped_teams,
            scoped_organizations=grant.scoped_organizations,
        )
        new_key = {"label": key.label, "value": value, "scopes": list(key.scopes)}
    return _render(request, who, new_key=new_key, status_code=201)


@router.post("/account/keys/{key_id}/revoke")
def revoke_key(
    request: Request, key_id: str, _form: FormData = Depends(csrf_form), who: Viewer = Depends(viewer)
) -> Response:
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        raise not_found("API key") from None
    with get_db(request).write() as session:
        if not accounts.revoke_api_key(session, who.user.id, parsed):
            raise not_found("API key")
    response = RedirectResponse("/account", status_code=303)
    flash.add(request, response, "API key revoked. Requests using it now fail with 401.")
    return response


@router.post("/account/password")
def change_password(request: Request, form: FormData = Depends(csrf_form), who: Viewer = Depends(viewer)) -> Response:
    current = forms.text(form, "current_password", 1000)
    new = forms.text(form, "new_password", 1000)
    confirm = forms.text(form, "confirm_password", 1000)
    errors = accounts.password_change_problems(who.user, current, new)
    if "new_password" not in errors and new != confirm:
        errors["confirm_password"] = "The two new passwords differ."
    if errors:
        return _render(request, who, password_errors=errors, status_code=400)
    with get_db(request).write() as session:
        user = session.get(User, who.user.id)
        assert user is not None
        accounts.change_password(session, user, current, new)
        ended = sessions.end_others(session, who.user.id, who.session.id)
    response = RedirectResponse("/account", status_code=303)
    suffix = f" {ended} other session{'s' if ended != 1 else ''} signed out." if ended else ""
    flash.add(request, response, "Password changed." + suffix)
    return response


@router.post("/account/sessions/end-others")
def end_other_sessions(
    request: Request, _form: FormData = Depends(csrf_form), who: Viewer = Depends(viewer)
) -> Response:
    with get_db(request).write() as session:
        ended = sessions.end_others(session, who.user.id, who.session.id)
    response = RedirectResponse("/account", status_code=303)
    flash.add(request, response, f"Signed out {ended} other session{'s' if ended != 1 else ''}.")
    return response


@router.post("/account/time-zone")
def set_time_zone(request: Request, form: FormData = Depends(csrf_form), who: Viewer = Depends(viewer)) -> Response:
    """Exact times (hover titles, the Markdown export's facts stay UTC) are shown in this zone from now on."""
    try:
        with get_db(request).write() as session:
            stored = time_zones.set_time_zone(session, who.user.id, forms.text(form, "time_zone", 100))
    except time_zones.UnknownTimeZone as exc:
        return _render(request, who, zone_errors={"time_zone": str(exc)}, status_code=400)
    response = RedirectResponse("/account", status_code=303)
    flash.add(request, response, f"Times are now shown in {stored or 'UTC'}.")
    return response
