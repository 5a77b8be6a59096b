"""Page dependencies: who is looking, at which project, and the verified body of a submitted form.

Tenancy is checked exactly as the REST API checks it (`accounts.get_project_for_user`): a project of another
organization is indistinguishable from a missing one (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Depends, Path, Request
from starlette.datastructures import FormData

from faultline.accounts import service as accounts
from faultline.accounts.models import Project, User
from faultline.http.deps import get_db
from faultline.ids import parse_ascii_int, parse_serial_id
from faultline.web import sessions
from faultline.web.errors import LoginRequired, WebError, not_found

MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 1000
# An empty POST (e.g. a bare `fetch(url, {method: "POST"})`) has no content type; it is parsed as an empty form.
FORM_TYPES = ("application/x-www-form-urlencoded", "")


@dataclass(frozen=True)
class Viewer:
    user: User
    session: sessions.ActiveSession
    projects: list[Project]

    @property
    def display_name(self) -> str:
        return self.user.first_name or self.user.email


@dataclass(frozen=True)
class ProjectPage:
    viewer: Viewer
    project: Project

    @property
    def user(self) -> User:
        return self.viewer.user


def viewer(request: Request) -> Viewer:
    active: sessions.ActiveSession | None = getattr(request.state, "web_session", None)
    if active is None:
        raise LoginRequired()
    with get_db(request).read() as session:
        user = session.get(User, active.user_id)
        if user is None or not user.is_active:
            raise LoginRequired()
        projects = list(session.execute(accounts.accessible_projects(user.id)).scalars())
    result = Viewer(user=user, session=active, projects=projects)
    request.state.viewer = result
    return result


def parse_project_id(raw: str) -> int:
    project_id = parse_serial_id(raw)
    if project_id is None:
        raise not_found("project")
    return project_id


def project_page(
    request: Request,
    project_id: str = Path(...),
    who: Viewer = Depends(viewer),
) -> ProjectPage:
    wanted = parse_project_id(project_id)
    project = next((p for p in who.projects if p.id == wanted), None)
    if project is None:
        raise not_found("project")
    request.state.project = project
    return ProjectPage(viewer=who, project=project)


async def read_form(request: Request) -> FormData:
    """The urlencoded body, bounded in size and field count (no multipart: UI forms never upload files)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in FORM_TYPES:
        raise WebError(415, "Forms must be submitted as application/x-www-form-urlencoded.")
    declared = request.headers.get("content-length")
    size = parse_ascii_int(declared, max_digits=20)
    if declared is not None and (size is None or size > MAX_FORM_BYTES):
        raise WebError(413, "The submitted form is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise WebError(413, "The submitted form is too large.")
    try:
        pairs = parse_qsl(
            body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:
        raise WebError(413, "The submitted form has too many fields.") from None
    return FormData(pairs)


def check_csrf(request: Request, form: FormData) -> None:
    active: sessions.ActiveSession | None = getattr(request.state, "web_session", None)
    if active is None:
        raise LoginRequired()
    if not sessions.csrf_matches(active.csrf_token, _field(form, "csrf_token")):
        raise WebError(403, "This form was not submitted from a Faultline page (CSRF token missing or wrong).")


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


async def csrf_form(request: Request) -> FormData:
    """Every state-changing page request goes through this: a logged-in session and its CSRF token."""
    if getattr(request.state, "web_session", None) is None:
        raise LoginRequired()
    form = await read_form(request)
    check_csrf(request, form)
    return form
