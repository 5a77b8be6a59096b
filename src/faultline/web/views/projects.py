"""Project pages: the project list/switcher target and the project settings page (token, SDK snippets, autocapture)."""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from faultline.accounts import service as accounts
from faultline.autocapture import service as autocapture
from faultline.http.deps import get_db
from faultline.http.routing import Router
from faultline.web import flash, forms, snippets
from faultline.web.deps import ProjectPage, Viewer, csrf_form, project_page, viewer
from faultline.web.templating import get_templates

router = Router(include_in_schema=False)


def project_home(project_id: int) -> str:
    """Where "open this project" lands."""
    return f"/project/{project_id}/issues"


@router.get("/projects/")
def projects_page(request: Request, who: Viewer = Depends(viewer)) -> Response:
    if len(who.projects) == 1:
        return RedirectResponse(project_home(who.projects[0].id), status_code=303)
    return get_templates(request).response(
        request, "projects.html", {"page_title": "Projects", "projects": who.projects, "project_home": project_home}
    )


@router.get("/project/{project_id}/")
def project_index(page: ProjectPage = Depends(project_page)) -> Response:
    return RedirectResponse(project_home(page.project.id), status_code=303)


def _render_settings(
    request: Request, page: ProjectPage, *, name_errors: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    settings = request.app.state.settings
    context = {
        "page_title": f"Settings · {page.project.name}",
        "project": page.project,
        "nav": "settings",
        "switch_section": "settings",
        "snippets": snippets.for_project(page.project.api_token, settings.public_url),
        "name_errors": name_errors or {},
    }
    return get_templates(request).response(request, "project_settings.html", context, status_code=status_code)


@router.get("/project/{project_id}/settings")
def settings_page(request: Request, page: ProjectPage = Depends(project_page)) -> Response:
    return _render_settings(request, page)


@router.post("/project/{project_id}/settings/name")
def rename_project(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    name = forms.text(form, "name", 1000)
    if not name.strip():
        return _render_settings(request, page, name_errors={"name": "The project needs a name."}, status_code=400)
    if len(name.strip()) > 200:
        return _render_settings(
            request, page, name_errors={"name": "Ensure this field has no more than 200 characters."}, status_code=400
        )
    with get_db(request).write() as session:
        accounts.update_project(session, page.project.id, name=name)
    response = RedirectResponse(f"/project/{page.project.id}/settings", status_code=303)
    flash.add(request, response, "Project renamed.")
    return response


@router.post("/project/{project_id}/settings/autocapture")
def toggle_autocapture(
    request: Request, form: FormData = Depends(csrf_form), page: ProjectPage = Depends(project_page)
) -> Response:
    enabled = forms.checkbox(form, "autocapture_exceptions_opt_in")
    with get_db(request).write() as session:
        # The settings service bumps the config revision, so remote config served to SDKs changes at once.
        autocapture.update_settings(session, page.project.id, {"autocapture_exceptions_opt_in": enabled})
    response = RedirectResponse(f"/project/{page.project.id}/settings", status_code=303)
    flash.add(request, response, f"Exception autocapture {'enabled' if enabled else 'disabled'} for SDKs.")
    return response
