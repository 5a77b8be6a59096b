"""Remote config served to SDKs (spec §6.5, sdk-wire-formats §2.3): content, cache invalidation on every kind of
change (in this process and from another one), CORS, ETag, and the /flags/ and /decide/ bodies real SDKs send."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from faultline.db import Database
from tests.conftest import Tenant

TYPE_ERROR = {
    "type": "OR",
    "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["TypeError"]}],
}


def api(tenant: Tenant) -> str:
    return f"/api/environments/{tenant.project.id}/error_tracking"


def config(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    response = client.get(f"/array/{tenant.project.api_token}/config")
    assert response.status_code == 200
    return response.json()


def test_config_shape(client: TestClient, seed: Tenant) -> None:
    body = config(client, seed)
    assert body["token"] == seed.project.api_token
    assert body["supportedCompression"] == ["gzip", "gzip-js"]
    assert body["autocaptureExceptions"] is True
    assert body["errorTracking"] == {
        "autocaptureExceptions": True,
        "captureExtensionExceptions": False,
        "suppressionRules": [],
        "autoCaptureControls": {},
    }
    # Faultline ingests exceptions only: the SDK is told not to send clicks, recordings, heatmaps or flag calls.
    assert (body["autocapture_opt_out"], body["sessionRecording"], body["heatmaps"], body["hasFeatureFlags"]) == (
        True,
        False,
        False,
        False,
    )


def test_only_client_safe_rules_are_shipped(client: TestClient, seed: Tenant) -> None:
    url = f"{api(seed)}/suppression_rules/"
    shipped = client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR}).json()
    client.post(url, headers=seed.headers, json={"filters": TYPE_ERROR, "sampling_rate": 0.5})  # sampled
    client.post(url, headers=seed.headers, json={})  # match-all
    sources = {
        "type": "AND",
        "values": [{"key": "$exception_sources", "type": "event", "operator": "icontains", "value": "vendor"}],
    }
    client.post(url, headers=seed.headers, json={"filters": sources})
    values = {
        "type": "AND",
        "values": [{"key": "$exception_values", "type": "event", "operator": "icontains", "value": "ResizeObserver"}],
    }
    second = client.post(url, headers=seed.headers, json={"filters": values}).json()
    client.patch(f"{url}reorder/", headers=seed.headers, json={"orders": {second["id"]: -1}})
    assert config(client, seed)["errorTracking"]["suppressionRules"] == [values, TYPE_ERROR]
    assert shipped["id"] != second["id"]


def test_every_kind_of_change_rebuilds_the_config(client: TestClient, seed: Tenant) -> None:
    cache = client.app.state.remote_config
    token = seed.project.api_token
    config(client, seed)
    builds = cache.builds
    for _ in range(3):
        config(client, seed)
        client.get(f"/array/{token}/config.js")
    assert cache.builds == builds  # served from memory while nothing changes

    rules_url = f"{api(seed)}/suppression_rules/"
    rule = client.post(rules_url, headers=seed.headers, json={"filters": TYPE_ERROR}).json()
    assert config(client, seed)["errorTracking"]["suppressionRules"] == [TYPE_ERROR]
    narrowed = {
        "type": "OR",
        "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": "RangeError"}],
    }
    client.patch(f"{rules_url}{rule['id']}/", headers=seed.headers, json={"filters": narrowed})
    assert config(client, seed)["errorTracking"]["suppressionRules"] == [narrowed]
    client.delete(f"{rules_url}{rule['id']}/", headers=seed.headers)
    assert config(client, seed)["errorTracking"]["suppressionRules"] == []

    controls_url = f"{api(seed)}/autocapture_controls/"
    controls = client.post(
        controls_url,
        headers=seed.headers,
        json={"sample_rate": "0.3", "url_triggers": [{"url": "/checkout"}], "event_triggers": ["paid"]},
    ).json()
    assert config(client, seed)["errorTracking"]["autoCaptureControls"] == {
        "web": {
            "urlTriggers": [{"url": "/checkout", "matching": "regex"}],
            "urlBlocklist": [],
            "eventTriggers": ["paid"],
            "linkedFeatureFlag": None,
            "sampleRate": 0.3,
            "matchType": "all",
        }
    }
    client.patch(f"{controls_url}{controls['id']}/", headers=seed.headers, json={"match_type": "any"})
    assert config(client, seed)["errorTracking"]["autoCaptureControls"]["web"]["matchType"] == "any"
    client.delete(f"{controls_url}{controls['id']}/", headers=seed.headers)
    assert config(client, seed)["errorTracking"]["autoCaptureControls"] == {}

    client.patch(
        f"{api(seed)}/settings/update_settings/", headers=seed.headers, json={"autocapture_exceptions_opt_in": False}
    )
    body = config(client, seed)
    assert (body["autocaptureExceptions"], body["errorTracking"]["autocaptureExceptions"]) == (False, False)
    client.patch(
        f"/api/environments/{seed.project.id}/", headers=seed.headers, json={"autocapture_exceptions_opt_in": True}
    )
    assert config(client, seed)["autocaptureExceptions"] is True


def test_a_write_from_another_process_is_seen(client: TestClient, seed: Tenant) -> None:
    """Another Database on the same file stands for an API process behind the load balancer."""
    config(client, seed)
    other = Database(client.app.state.settings.database_url)
    try:
        from faultline.rules import service as rules

        with other.write() as session:
            rules.create_suppression_rule(session, seed.project.id, filters=TYPE_ERROR, sampling_rate=1.0)
    finally:
        other.dispose()
    assert config(client, seed)["errorTracking"]["suppressionRules"] == [TYPE_ERROR]


def test_config_js_is_a_script_setting_the_global(client: TestClient, seed: Tenant) -> None:
    token = seed.project.api_token
    response = client.get(f"/array/{token}/config.js", headers={"Origin": "https://shop.example.com"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["access-control-allow-origin"] == "https://shop.example.com"
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required (it also installs posthog-js for the browser tests)")
    script = (
        response.text + f"\nprocess.stdout.write(JSON.stringify(window._POSTHOG_REMOTE_CONFIG[{json.dumps(token)}]))"
    )
    out = subprocess.run(
        [node, "-e", "var window = {};\n" + script], capture_output=True, text=True, timeout=30, check=True
    )
    loaded = json.loads(out.stdout)
    assert loaded["siteApps"] == [] and loaded["config"] == config(client, seed)


def test_etag_and_cors(client: TestClient, seed: Tenant) -> None:
    token = seed.project.api_token
    first = client.get(f"/array/{token}/config")
    assert first.headers["access-control-allow-origin"] == "*"
    etag = first.headers["etag"]
    assert client.get(f"/array/{token}/config", headers={"If-None-Match": etag}).status_code == 304
    client.post(f"{api(seed)}/suppression_rules/", headers=seed.headers, json={"filters": TYPE_ERROR})
    assert client.get(f"/array/{token}/config", headers={"If-None-Match": etag}).status_code == 200

    preflight = client.options(
        "/flags/?v=2",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://a.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "content-type"


@pytest.mark.parametrize("token", ["phc_unknown", "x" * 101, "bad token", "../../etc"])
def test_unknown_tokens(client: TestClient, seed: Tenant, token: str) -> None:
    for suffix in ("config", "config.js"):
        response = client.get(f"/array/{token}/{suffix}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def _flags_bodies(token: str) -> list[tuple[str, dict[str, str], bytes]]:
    document = json.dumps({"token": token, "distinct_id": "d1"}).encode()
    return [
        ("", {"Content-Type": "application/json"}, document),
        ("", {"Content-Type": "text/plain"}, gzip.compress(document)),  # posthog-js gzip-js: no header, no hint
        ("&compression=gzip-js", {"Content-Type": "text/plain"}, gzip.compress(document)),
        (
            "&compression=base64",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"data=" + base64.b64encode(document),
        ),
        ("&compression=base64", {"Content-Type": "text/plain"}, base64.b64encode(document)),
    ]


def test_flags_accepts_every_sdk_encoding(client: TestClient, seed: Tenant) -> None:
    for query, headers, body in _flags_bodies(seed.project.api_token):
        response = client.post(f"/flags/?v=2{query}", headers=headers, content=body)
        assert response.status_code == 200, (query, headers, response.text)
        answer = response.json()
        assert answer["flags"] == {} and answer["errorsWhileComputingFlags"] is False and "requestId" in answer
        assert "featureFlags" not in answer  # posthog-js warns about the legacy key
    legacy = client.post("/flags/", json={"api_key": seed.project.api_token}).json()
    assert legacy == {"featureFlags": {}, "featureFlagPayloads": {}, "errorsWhileComputingFlags": False}
    with_config = client.post("/flags/?v=2&config=true", json={"token": seed.project.api_token}).json()
    assert with_config["errorTracking"]["autocaptureExceptions"] is True and with_config["flags"] == {}


def test_decide(client: TestClient, seed: Tenant) -> None:
    token = seed.project.api_token
    v3 = client.post(
        "/decide/?v=3",
        content=b"data=" + base64.b64encode(orjson.dumps({"token": token})),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert v3.status_code == 200
    body = v3.json()
    assert body["autocaptureExceptions"] == {"endpoint": "/e/"}
    assert body["errorTracking"]["autocaptureExceptions"] is True
    assert (body["featureFlags"], body["featureFlagPayloads"], body["supportedCompression"]) == (
        {},
        {},
        ["gzip", "gzip-js"],
    )
    v4 = client.post("/decide/?v=4", json={"token": token}).json()
    assert v4["flags"] == {} and "featureFlags" not in v4
    client.patch(
        f"{api(seed)}/settings/update_settings/", headers=seed.headers, json={"autocapture_exceptions_opt_in": False}
    )
    assert client.post("/decide/?v=3", json={"token": token}).json()["autocaptureExceptions"] is False


@pytest.mark.parametrize("path", ["/flags/?v=2", "/decide/?v=3"])
def test_bad_sdk_requests_get_clear_errors(client: TestClient, seed: Tenant, path: str) -> None:
    missing = client.post(path, json={"distinct_id": "x"})
    assert missing.status_code == 401 and missing.json()["code"] == "missing_api_key"
    invalid = client.post(path, json={"token": "phc_nope"})
    assert invalid.status_code == 401 and invalid.json()["code"] == "invalid_api_key"
    assert invalid.headers["access-control-allow-origin"] == "*"  # errors must be readable cross-origin too
    for body, content_type in (
        (b"\x1f\x8b\x08garbage", "text/plain"),
        (b"{not json", "application/json"),
        (b"data=%%%", "application/x-www-form-urlencoded"),
    ):
        response = client.post(path, content=body, headers={"Content-Type": content_type})
        assert response.status_code == 400, body
        assert response.json()["type"] == "invalid_request"
    bomb = gzip.compress(b"[" + b"0," * (3 << 20) + b"0]")
    assert client.post(path, content=bomb, headers={"Content-Type": "text/plain"}).status_code == 413
    assert client.post(path, content=b"x" * ((1 << 20) + 1), headers={"Content-Type": "text/plain"}).status_code == 413
