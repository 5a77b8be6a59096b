"""One schema per resource: every model in the OpenAPI document has one name, the resource's own.

FastAPI names a component after its class and falls back to the full module path
(`faultline__symbols__schemas__ReleaseOut`) when two different classes share a name: that fallback is the sign that a
resource is described twice, with types that drift apart (ReleaseOut had a string `created_at` in one copy and a
date-time in the other).
"""

from __future__ import annotations

from fastapi import FastAPI


def test_no_two_models_share_a_name(app: FastAPI) -> None:
    names = set(app.openapi()["components"]["schemas"])
    assert sorted(name for name in names if name.startswith("faultline__")) == []


def test_release_and_assignee_are_described_once(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    release = {"$ref": "#/components/schemas/ReleaseOut"}
    assert schemas["SymbolSetOut"]["properties"]["release"]["anyOf"][0] == release
    assert schemas["ReleaseOut"]["properties"]["created_at"]["format"] == "date-time"
    assignee = {"$ref": "#/components/schemas/AssigneeOut"}
    assert schemas["IssueOut"]["properties"]["assignee"]["anyOf"][0] == assignee
    assert schemas["AssignmentRuleOut"]["properties"]["assignee"]["anyOf"][0] == assignee
