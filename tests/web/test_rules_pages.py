"""Rule pages: create with the filter editor, inline refusals, reorder, edit, enable a rule the worker disabled (and
see why), delete — for suppression, grouping and assignment rules, checked against the rules the digest uses."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.accounts import service as accounts
from faultline.accounts.models import Organization
from faultline.db import Database
from faultline.rules import revisions
from faultline.rules.models import AssignmentRule, GroupingRule, SuppressionRule
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest
from tests.web.conftest import csrf_from, post_rule


def rules_url(tenant: Tenant, kind: str = "suppression") -> str:
    return f"/project/{tenant.project.id}/rules/{kind}"


def submit(client: TestClient, tenant: Tenant, kind: str, path: str = "", **data: object):
    """Preview, then save (tests/web/conftest.py `post_rule`)."""
    token = csrf_from(client.get(rules_url(tenant, kind)).text)
    return post_rule(client, rules_url(tenant, kind) + path, {"csrf_token": token, **data})


def condition(key: str, operator: str, value: str) -> dict[str, object]:
    return {"match": "AND", "key": [key], "operator": [operator], "value": [value]}


def stored(db: Database, model: type) -> list:
    with db.read() as session:
        return list(session.execute(sa.select(model).order_by(model.order_key, model.created_at)).scalars())


def test_create_suppression_rule_feeds_the_digest(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    with db.read() as session:
        before = revisions.current(session, seed.project.id)
    response = submit(
        logged_in, seed, "suppression", **condition("$exception_types", "exact", "NoiseError"), sampling_rate="1"
    )
    assert response.status_code == 303
    page = logged_in.get(response.headers["location"]).text
    assert "Suppression rule created." in page and "<code>$exception_types equals NoiseError</code>" in page
    [rule] = stored(db, SuppressionRule)
    assert rule.filters == {
        "type": "AND",
        "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["NoiseError"]}],
    }
    with db.read() as session:
        assert revisions.current(session, seed.project.id) > before  # remote config and workers refresh
    outcomes = ingest(
        db,
        seed.project,
        [exception_event("NoiseError"), exception_event("RealError")],
        rules=logged_in.app.state.runtime.rules,
    )
    assert [o.status for o in outcomes] == ["suppressed", "stored"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**condition("$exception_values", "regex", "(unclosed"), "sampling_rate": "1"}, "Invalid regular expression"),
        ({**condition("$lib", "exact", "web"), "sampling_rate": "1.5"}, "less than or equal to 1"),
        ({**condition("$lib", "exact", "web"), "sampling_rate": "lots"}, "A valid number is required."),
        ({**condition("", "exact", "orphan"), "sampling_rate": "1"}, "Name the property this condition tests."),
        ({**condition("$lib", "exact", ""), "sampling_rate": "1"}, "Enter a value"),
        ({"editor": "json", "filters_json": "{broken", "sampling_rate": "1"}, "Not valid JSON"),
        ({"editor": "json", "filters_json": '{"type": "AND", "values": 5}', "sampling_rate": "1"}, "Invalid filters"),
    ],
)
def test_bad_rules_are_refused_inline(
    logged_in: TestClient, seed: Tenant, db: Database, data: dict, message: str
) -> None:
    response = submit(logged_in, seed, "suppression", **data)
    assert response.status_code == 400
    errors = re.findall(r'class="(?:field|form)-error"[^>]*>([^<]*)<', response.text)
    assert any(message in text for text in errors), errors
    assert "New suppression rule" in response.text and stored(db, SuppressionRule) == []


def test_reorder_edit_and_delete(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    for name in ("First", "Second", "Third"):
        assert submit(logged_in, seed, "suppression", **condition("$exception_types", "exact", name)).status_code == 303
    names = [r.filters["values"][0]["value"][0] for r in stored(db, SuppressionRule)]
    assert names == ["First", "Second", "Third"]  # new rules are appended
    third = stored(db, SuppressionRule)[2]
    assert submit(logged_in, seed, "suppression", f"/{third.id}/move", direction="up").status_code == 303
    assert [r.filters["values"][0]["value"][0] for r in stored(db, SuppressionRule)] == ["First", "Third", "Second"]
    first = stored(db, SuppressionRule)[0]
    assert submit(logged_in, seed, "suppression", f"/{first.id}/move", direction="down").status_code == 303
    assert [r.filters["values"][0]["value"][0] for r in stored(db, SuppressionRule)] == ["Third", "First", "Second"]
    assert [r.order_key for r in stored(db, SuppressionRule)] == [0, 1, 2]
    assert submit(logged_in, seed, "suppression", f"/{first.id}/move", direction="sideways").status_code == 400
    # The list shows them in that order.
    page = logged_in.get(rules_url(seed)).text
    assert re.findall(r"equals (\w+)</code>", page) == ["Third", "First", "Second"]

    edit = logged_in.get(rules_url(seed) + f"/{first.id}").text
    assert "Edit suppression rule" in edit and 'value="First"' in edit
    response = submit(
        logged_in, seed, "suppression", f"/{first.id}", **condition("$lib", "icontains", "python"), sampling_rate="0.25"
    )
    assert response.status_code == 303
    with db.read() as session:
        changed = session.get(SuppressionRule, first.id)
    assert changed.sampling_rate == 0.25 and changed.filters["values"][0]["operator"] == "icontains"
    assert "drops 25 % of matching events" in logged_in.get(rules_url(seed)).text

    assert submit(logged_in, seed, "suppression", f"/{first.id}/delete").status_code == 303
    assert len(stored(db, SuppressionRule)) == 2
    assert submit(logged_in, seed, "suppression", f"/{first.id}/delete").status_code == 404


def test_disabled_rule_shows_why_and_can_be_enabled(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    # A rule stored before its regex was validated: the digest disables it on the first event, as cymbal does.
    with db.write() as session:
        session.add(
            SuppressionRule(
                project_id=seed.project.id,
                filters={
                    "type": "AND",
                    "values": [{"key": "$exception_values", "type": "event", "operator": "regex", "value": "(["}],
                },
                sampling_rate=1.0,
            )
        )
    [outcome] = ingest(
        db, seed.project, [exception_event("TypeError", "boom")], rules=logged_in.app.state.runtime.rules
    )
    assert outcome.status == "stored"
    [rule] = stored(db, SuppressionRule)
    assert rule.disabled_data is not None
    page = logged_in.get(rules_url(seed)).text
    assert '<span class="badge danger">disabled</span>' in page
    assert "<strong>Why:</strong> " + rule.disabled_data["message"].replace("'", "&#39;") in page
    assert "Event it failed on" in page and "boom" in page
    assert submit(logged_in, seed, "suppression", f"/{rule.id}/enable").status_code == 303
    [rule] = stored(db, SuppressionRule)
    assert rule.disabled_data is None
    assert "badge danger" not in logged_in.get(rules_url(seed)).text


def test_grouping_and_assignment_rules(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    with db.write() as session:
        org = session.get(Organization, seed.organization.id)
        role = accounts.create_role(session, org, "Payments team")
        role_id = role.id
    response = submit(
        logged_in,
        seed,
        "grouping",
        **condition("$exception_values", "icontains", "timeout"),
        assignee=f"role:{role_id}",
        description="All timeouts together",
    )
    assert response.status_code == 303
    [grouping] = stored(db, GroupingRule)
    assert grouping.role_id == role_id and grouping.description == "All timeouts together"
    outcomes = ingest(
        db,
        seed.project,
        [exception_event("ReadTimeout", "timeout a"), exception_event("ConnectTimeout", "timeout b")],
        rules=logged_in.app.state.runtime.rules,
    )
    assert outcomes[0].issue_id == outcomes[1].issue_id and outcomes[0].fingerprint == f"custom-rule:{grouping.id}"
    page = logged_in.get(rules_url(seed, "grouping")).text
    assert "assigns to <strong>Payments team (role)</strong>" in page and "All timeouts together" in page
    assert f'href="/project/{seed.project.id}/issues/{outcomes[0].issue_id}"' in page

    refused = submit(logged_in, seed, "assignment", **condition("$lib", "exact", "web"))
    assert refused.status_code == 400 and "This field may not be null." in refused.text
    refused = submit(logged_in, seed, "assignment", **condition("$lib", "exact", "web"), assignee="user:999999")
    assert refused.status_code == 400 and "Assignee user does not belong to this organization." in refused.text
    ok = submit(logged_in, seed, "assignment", **condition("$lib", "exact", "web"), assignee=f"user:{seed.user.id}")
    assert ok.status_code == 303
    [assignment] = stored(db, AssignmentRule)
    assert assignment.user_id == seed.user.id
    [created] = ingest(
        db, seed.project, [exception_event(properties={"$lib": "web"})], rules=logged_in.app.state.runtime.rules
    )
    page = logged_in.get(f"/project/{seed.project.id}/issues/{created.issue_id}").text
    assert 'id="assignee-badge">@ you' in page


def test_nested_filters_are_edited_as_json_and_kept(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    nested = {
        "type": "OR",
        "values": [
            {"type": "AND", "values": [{"key": "a", "type": "event", "operator": "exact", "value": ["1"]}]},
            {"type": "AND", "values": [{"key": "b", "type": "event", "operator": "exact", "value": ["2"]}]},
        ],
    }
    with db.write() as session:
        rule = SuppressionRule(project_id=seed.project.id, filters=nested, sampling_rate=1.0)
        session.add(rule)
        session.flush()
        rule_id = rule.id
    page = logged_in.get(rules_url(seed) + f"/{rule_id}").text
    assert 'name="editor" value="json"' in page and "custom filter (nested groups)" in page
    json_text = re.search(r'<textarea id="filters_json"[^>]*>([^<]*)</textarea>', page).group(1).replace("&#34;", '"')
    response = submit(
        logged_in, seed, "suppression", f"/{rule_id}", editor="json", filters_json=json_text, sampling_rate="1"
    )
    assert response.status_code == 303
    with db.read() as session:
        assert session.get(SuppressionRule, rule_id).filters == nested


def test_rule_pages_are_private(logged_in: TestClient, seed: Tenant, other_tenant: Tenant, db: Database) -> None:
    with db.write() as session:
        theirs = SuppressionRule(project_id=other_tenant.project.id, filters={"type": "AND", "values": []})
        session.add(theirs)
        session.flush()
        theirs_id = theirs.id
    assert logged_in.get(rules_url(other_tenant)).status_code == 404
    assert logged_in.get(rules_url(seed) + f"/{theirs_id}").status_code == 404
    assert submit(logged_in, seed, "suppression", f"/{theirs_id}/delete").status_code == 404
    assert logged_in.get(rules_url(seed, "mystery")).status_code == 404
    assert logged_in.get(rules_url(seed) + f"/{uuid.uuid4()}").status_code == 404
    response = logged_in.post(rules_url(seed), data=condition("$lib", "exact", "web"), follow_redirects=False)
    assert response.status_code == 403  # no CSRF token
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(SuppressionRule)).scalar_one() == 1


def test_nothing_is_saved_before_its_preview(logged_in: TestClient, seed: Tenant, db: Database) -> None:
    """A blank form once saved a drop-everything rule. Now: a preview first, a match-all rule needs the box ticked,
    and a preview of other conditions does not save these ones."""
    ingest(db, seed.project, [exception_event("NoiseError"), exception_event("RealError")])
    token = csrf_from(logged_in.get(rules_url(seed)).text)
    blank = {
        "csrf_token": token,
        "match": "AND",
        "key": [""],
        "operator": ["exact"],
        "value": [""],
        "sampling_rate": "1",
    }
    preview = logged_in.post(rules_url(seed), data=blank, follow_redirects=False)
    assert preview.status_code == 200
    assert "Matches 2 of the last 7 days&#39; 2 events across 2 issues: would drop all of them." in preview.text
    assert "This rule has no conditions: it applies to every event" in preview.text
    digest = re.search(r'name="preview_of" value="([0-9a-f]+)"', preview.text).group(1)  # type: ignore[union-attr]
    refused = logged_in.post(rules_url(seed), data={**blank, "preview_of": digest}, follow_redirects=False)
    assert refused.status_code == 400 and "tick the box to confirm" in refused.text
    # A digest of other conditions is a new preview, not a save.
    other = {**blank, **condition("$exception_types", "exact", "NoiseError")}
    again = logged_in.post(rules_url(seed), data={**other, "preview_of": digest}, follow_redirects=False)
    assert again.status_code == 200 and "Matches 1 of the last 7 days&#39; 2 events across 1 issue" in again.text
    assert stored(db, SuppressionRule) == []
    saved = logged_in.post(
        rules_url(seed), data={**blank, "preview_of": digest, "confirm_all": "yes"}, follow_redirects=False
    )
    assert saved.status_code == 303
    [rule] = stored(db, SuppressionRule)
    assert rule.filters == {"type": "AND", "values": []}
