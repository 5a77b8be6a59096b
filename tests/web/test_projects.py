"""Project list, switcher and settings: token, SDK snippets at the public URL, autocapture toggle, tenancy."""

from __future__ import annotations

from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.db import Database
from tests.conftest import Tenant
from tests.web.conftest import csrf_from


def test_settings_show_token_and_snippets_for_this_server(logged_in: TestClient, seed: Tenant) -> None:
    page = logged_in.get(f"/project/{seed.project.id}/settings")
    assert page.status_code == 200
    public_url = logged_in.app.state.settings.public_url
    assert seed.project.api_token in page.text
    assert f"api_host: &#34;{public_url}&#34;" in page.text  # posthog-js
    assert f"host=&#39;{public_url}&#39;" in page.text  # posthog-python
    assert f"curl -X POST {public_url}/i/v0/e/" in page.text
    # The build that autocaptures exceptions without `faultline posthog-js install` (see README).
    assert "import posthog from &#39;posthog-js/full&#39;" in page.text


def test_single_project_users_land_on_it(logged_in: TestClient, seed: Tenant) -> None:
    response = logged_in.get("/projects/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/project/{seed.project.id}/issues"


def test_switcher_lists_only_my_projects(
    logged_in: TestClient, seed: Tenant, other_tenant: Tenant, db: Database
) -> None:
    with db.write() as session:
        second = accounts.create_project(session, seed.organization.id, "Mobile app")
    page = logged_in.get(f"/project/{seed.project.id}/settings").text
    assert f'href="/project/{second.id}/settings"' in page and "Mobile app" in page
    assert other_tenant.project.name not in page
    listing = logged_in.get("/projects/")
    assert listing.status_code == 200 and "Mobile app" in listing.text and other_tenant.project.name not in listing.text


def test_another_organizations_project_is_a_404(logged_in: TestClient, other_tenant: Tenant, csrf: str) -> None:
    page = logged_in.get(f"/project/{other_tenant.project.id}/settings")
    assert page.status_code == 404
    assert other_tenant.project.api_token not in page.text
    post = logged_in.post(
        f"/project/{other_tenant.project.id}/settings/name", data={"csrf_token": csrf, "name": "pwned"}
    )
    assert post.status_code == 404
    assert (
        TestClient(logged_in.app)
        .get(f"/api/environments/{other_tenant.project.id}/", headers=other_tenant.headers)
        .json()["name"]
        == other_tenant.project.name
    )


def test_rename_validates_inline(logged_in: TestClient, seed: Tenant, csrf: str) -> None:
    url = f"/project/{seed.project.id}/settings/name"
    blank = logged_in.post(url, data={"csrf_token": csrf, "name": "   "})
    assert blank.status_code == 400 and "The project needs a name." in blank.text
    long = logged_in.post(url, data={"csrf_token": csrf, "name": "n" * 201})
    assert long.status_code == 400 and "no more than 200 characters" in long.text
    ok = logged_in.post(url, data={"csrf_token": csrf, "name": "  Checkout  "}, follow_redirects=False)
    assert ok.status_code == 303
    assert logged_in.get(f"/api/environments/{seed.project.id}/").json()["name"] == "Checkout"


def test_autocapture_toggle_is_the_projects_setting(logged_in: TestClient, seed: Tenant) -> None:
    url = f"/project/{seed.project.id}/settings"
    token = csrf_from(logged_in.get(url).text)
    response = logged_in.post(url + "/autocapture", data={"csrf_token": token})
    assert "Exception autocapture disabled" in response.text  # flash shown after the redirect
    assert logged_in.get(f"/api/environments/{seed.project.id}/").json()["autocapture_exceptions_opt_in"] is False
    logged_in.post(url + "/autocapture", data={"csrf_token": token, "autocapture_exceptions_opt_in": "on"})
    assert logged_in.get(f"/api/environments/{seed.project.id}/").json()["autocapture_exceptions_opt_in"] is True
