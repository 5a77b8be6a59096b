"""REST contract of autocapture controls (spec §1.9, §2.10) and error-tracking settings (§2.11)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.app import create_app
from faultline.db import Database
from tests.conftest import Tenant, make_settings, make_tenant


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Tenant, str]]:
    """One app and one controls row for the validation tables (they only ever answer 400)."""
    app = create_app(make_settings(tmp_path_factory.mktemp("autocapture-api") / "data"))
    with TestClient(app) as test_client:
        tenant = make_tenant(app.state.db, email="validation@acme.test")
        created = test_client.post(controls_url(tenant), headers=tenant.headers, json={})
        yield test_client, tenant, created.json()["id"]


def controls_url(tenant: Tenant) -> str:
    return f"/api/environments/{tenant.project.id}/error_tracking/autocapture_controls/"


def settings_url(tenant: Tenant) -> str:
    return f"/api/environments/{tenant.project.id}/error_tracking/settings/"


def expect_400(response, detail: str, attr: str | None, code: str | None = None) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"type", "code", "detail", "attr"}
    assert (body["detail"], body["attr"]) == (detail, attr)
    if code:
        assert body["code"] == code


def test_controls_lifecycle(client: TestClient, seed: Tenant, other_tenant: Tenant) -> None:
    url = controls_url(seed)
    listing = client.get(url, headers=seed.headers)
    assert listing.status_code == 200 and listing.json() is None

    created = client.post(
        url, headers=seed.headers, json={"sample_rate": "0.5", "event_triggers": ["signup", "signup"]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body == {
        "id": body["id"],
        "library": "web",
        "match_type": "all",
        "sample_rate": "0.50",
        "linked_feature_flag": None,
        "event_triggers": ["signup"],
        "url_triggers": [],
        "url_blocklist": [],
    }
    # Creating again returns the existing controls untouched, with 200.
    again = client.post(url, headers=seed.headers, json={"sample_rate": "0.9", "library": "ios"})
    assert again.status_code == 200 and again.json() == body
    assert client.get(url, headers=seed.headers, params={"library": "web"}).json() == body
    expect_400(
        client.get(url, headers=seed.headers, params={"library": "ios"}),
        '"ios" is not a valid choice.',
        "library",
        "invalid_choice",
    )

    detail = f"{url}{body['id']}/"
    assert client.get(detail, headers=seed.headers).json() == body
    update = {
        "match_type": "any",
        "sample_rate": 0.25,
        "linked_feature_flag": {"id": 3, "key": "new-checkout", "variant": "test"},
        "url_triggers": [{"url": "^https://shop\\.example\\.com/(?<page>checkout|cart)", "matching": "regex"}],
        "url_blocklist": [{"url": "/admin/"}],
    }
    patched = client.patch(detail, headers=seed.headers, json=update)
    assert patched.status_code == 200
    assert patched.json() == {
        **body,
        "match_type": "any",
        "sample_rate": "0.25",
        "linked_feature_flag": {"id": 3, "key": "new-checkout", "variant": "test"},
        "url_triggers": update["url_triggers"],
        "url_blocklist": [{"url": "/admin/", "matching": "regex"}],
    }
    put = client.put(detail, headers=seed.headers, json={"linked_feature_flag": None, "event_triggers": None})
    assert put.status_code == 200
    assert (put.json()["linked_feature_flag"], put.json()["event_triggers"], put.json()["match_type"]) == (
        None,
        [],
        "any",
    )

    assert client.get(detail, headers=other_tenant.headers).status_code == 404
    other_detail = f"{controls_url(other_tenant)}{body['id']}/"
    assert client.get(other_detail, headers=other_tenant.headers).status_code == 404
    assert client.patch(other_detail, headers=other_tenant.headers, json={}).status_code == 404
    assert client.delete(other_detail, headers=other_tenant.headers).status_code == 404
    assert client.get(f"{url}{uuid.uuid4()}/", headers=seed.headers).status_code == 404
    assert client.get(f"{url}nope/", headers=seed.headers).status_code == 404

    assert client.delete(detail, headers=seed.headers).status_code == 204
    assert client.get(url, headers=seed.headers).json() is None
    assert client.delete(detail, headers=seed.headers).status_code == 404
    assert (
        client.delete(f"{url}delete_controls/", headers=seed.headers).status_code == 204
    )  # nothing to delete: still 204
    client.post(url, headers=seed.headers, json={})
    assert client.delete(f"{url}delete_controls/", headers=seed.headers).status_code == 204
    assert client.get(url, headers=seed.headers).json() is None


@pytest.mark.parametrize(
    ("payload", "detail", "attr", "code"),
    [
        ({"match_type": "some"}, '"some" is not a valid choice.', "match_type", "invalid_choice"),
        ({"match_type": None}, "This field may not be null.", "match_type", "null"),
        ({"sample_rate": "abc"}, "A valid number is required.", "sample_rate", "invalid_input"),
        ({"sample_rate": None}, "This field may not be null.", "sample_rate", "null"),
        ({"sample_rate": "1.5"}, "Ensure this value is less than or equal to 1.", "sample_rate", "max_value"),
        ({"sample_rate": -0.5}, "Ensure this value is greater than or equal to 0.", "sample_rate", "min_value"),
        (
            {"sample_rate": "0.125"},
            "Ensure that there are no more than 2 decimal places.",
            "sample_rate",
            "max_decimal_places",
        ),
        (
            {"sample_rate": 12},
            "Ensure that there are no more than 1 digits before the decimal point.",
            "sample_rate",
            "max_whole_digits",
        ),
        (
            {"sample_rate": "1.000"},
            "Ensure that there are no more than 3 digits in total.",
            "sample_rate",
            "max_digits",
        ),
        ({"url_triggers": "x"}, 'Expected a list of items but got type "str".', "url_triggers", "not_a_list"),
        (
            {"url_triggers": ["x"]},
            'Each entry must be an object like {"url": "<regex>", "matching": "regex"}.',
            "url_triggers",
            None,
        ),
        (
            {"url_triggers": [{"url": "("}]},
            "Invalid regular expression '(': missing ), unterminated subpattern at position 0",
            "url_triggers",
            None,
        ),
        (
            {"url_blocklist": [{"url": "[a-"}]},
            "Invalid regular expression '[a-': unterminated character set at position 0",
            "url_blocklist",
            None,
        ),
        (
            {"url_blocklist": [{"url": "x", "matching": "glob"}]},
            '"glob" is not a valid choice for `matching` (only "regex").',
            "url_blocklist",
            None,
        ),
        (
            {"url_triggers": [{"url": ""}]},
            "Each entry needs a non-empty `url` regular expression.",
            "url_triggers",
            None,
        ),
        ({"event_triggers": "signup"}, 'Expected a list of items but got type "str".', "event_triggers", "not_a_list"),
        (
            {"event_triggers": [1]},
            "Event triggers must be non-empty strings of at most 400 characters.",
            "event_triggers",
            None,
        ),
        (
            {"linked_feature_flag": "flag"},
            'Expected an object like {"id": 1, "key": "my-flag", "variant": null}.',
            "linked_feature_flag",
            None,
        ),
        (
            {"linked_feature_flag": {"id": 1}},
            "The linked feature flag needs a non-empty string `key`.",
            "linked_feature_flag",
            None,
        ),
        (
            {"linked_feature_flag": {"key": "f", "id": "1"}},
            "The linked feature flag `id` must be an integer.",
            "linked_feature_flag",
            None,
        ),
    ],
)
def test_controls_validation(
    shared: tuple[TestClient, Tenant, str], payload: dict, detail: str, attr: str, code: str | None
) -> None:
    client, tenant, controls_id = shared
    expect_400(
        client.patch(f"{controls_url(tenant)}{controls_id}/", headers=tenant.headers, json=payload), detail, attr, code
    )


def test_controls_create_validates_too(client: TestClient, seed: Tenant) -> None:
    expect_400(
        client.post(controls_url(seed), headers=seed.headers, json={"match_type": "x"}),
        '"x" is not a valid choice.',
        "match_type",
    )
    assert client.get(controls_url(seed), headers=seed.headers).json() is None


def test_settings(client: TestClient, seed: Tenant) -> None:
    url = settings_url(seed)
    defaults = {
        "autocapture_exceptions_opt_in": True,
        "project_rate_limit_value": None,
        "project_rate_limit_bucket_size_minutes": None,
        "per_issue_rate_limit_value": None,
        "per_issue_rate_limit_bucket_size_minutes": None,
    }
    assert client.get(f"{url}retrieve_settings/", headers=seed.headers).json() == defaults
    assert client.get(url, headers=seed.headers).json() == defaults

    response = client.patch(
        f"{url}update_settings/",
        headers=seed.headers,
        json={"project_rate_limit_value": 100, "project_rate_limit_bucket_size_minutes": "5"},
    )
    assert response.status_code == 200
    assert response.json() == {**defaults, "project_rate_limit_value": 100, "project_rate_limit_bucket_size_minutes": 5}
    response = client.patch(
        url, headers=seed.headers, json={"autocapture_exceptions_opt_in": "false", "per_issue_rate_limit_value": 3}
    )
    expected = {
        **defaults,
        "autocapture_exceptions_opt_in": False,
        "project_rate_limit_value": 100,
        "project_rate_limit_bucket_size_minutes": 5,
        "per_issue_rate_limit_value": 3,
    }
    assert response.json() == expected
    # Explicit null removes a limit; omitted fields are untouched.
    response = client.patch(f"{url}update_settings/", headers=seed.headers, json={"project_rate_limit_value": None})
    assert response.json() == {**expected, "project_rate_limit_value": None}
    # The project endpoint and the settings endpoint share the flag.
    assert (
        client.get(f"/api/environments/{seed.project.id}/", headers=seed.headers).json()[
            "autocapture_exceptions_opt_in"
        ]
        is False
    )
    client.patch(
        f"/api/environments/{seed.project.id}/", headers=seed.headers, json={"autocapture_exceptions_opt_in": True}
    )
    assert client.get(f"{url}retrieve_settings/", headers=seed.headers).json()["autocapture_exceptions_opt_in"] is True

    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"project_rate_limit_value": 0},
            "Ensure this value is greater than or equal to 1.",
            "project_rate_limit_value",
        ),
        (
            {"per_issue_rate_limit_bucket_size_minutes": "x"},
            "A valid integer is required.",
            "per_issue_rate_limit_bucket_size_minutes",
        ),
        ({"autocapture_exceptions_opt_in": "maybe"}, "Must be a valid boolean.", "autocapture_exceptions_opt_in"),
        ({"autocapture_exceptions_opt_in": None}, "This field may not be null.", "autocapture_exceptions_opt_in"),
        ({"autocapture_exceptions_opt_in": [True]}, "Must be a valid boolean.", "autocapture_exceptions_opt_in"),
    ]
    for payload, detail, attr in cases:
        expect_400(client.patch(f"{url}update_settings/", headers=seed.headers, json=payload), detail, attr)


def test_scopes_and_tenancy(client: TestClient, db: Database, seed: Tenant, other_tenant: Tenant) -> None:
    reader = make_tenant(db, email="reader@acme.test", scopes=["error_tracking:read"])
    with db.write() as session:
        accounts.add_member(session, seed.organization, session.merge(reader.user))
    controls = client.post(controls_url(seed), headers=seed.headers, json={}).json()
    assert client.get(controls_url(seed), headers=reader.headers).status_code == 200
    assert client.get(f"{settings_url(seed)}retrieve_settings/", headers=reader.headers).status_code == 200
    for method, url in (
        ("POST", controls_url(seed)),
        ("PATCH", f"{controls_url(seed)}{controls['id']}/"),
        ("DELETE", f"{controls_url(seed)}{controls['id']}/"),
        ("PATCH", f"{settings_url(seed)}update_settings/"),
    ):
        response = client.request(method, url, headers=reader.headers, json={})
        assert response.status_code == 403, (method, url)
    for url in (controls_url(seed), f"{settings_url(seed)}retrieve_settings/"):
        assert client.get(url, headers=other_tenant.headers).status_code == 404
        assert client.get(url).status_code == 401
