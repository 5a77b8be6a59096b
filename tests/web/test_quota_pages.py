"""The UI beside the API: severity and bypass rule pages feed the digest, the issue list filters and sorts by
severity, the ingestion page shows stored bytes, the budget warning and the rate-limit counters."""

from __future__ import annotations

import re

import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.autocapture.models import ErrorTrackingSettings
from faultline.db import Database
from faultline.pipeline.digest import Limits, Pipeline
from faultline.rules.models import BypassRule, SeverityRule
from tests.conftest import Tenant
from tests.support.ingest import exception_event, ingest
from tests.web.conftest import csrf_from, post_rule


def submit(client: TestClient, tenant: Tenant, kind: str, **data: object):
    url = f"/project/{tenant.project.id}/rules/{kind}"
    token = csrf_from(client.get(url).text)
    # Rule forms show a preview first and save on the second submit (post_rule does both).
    return post_rule(client, url, {"csrf_token": token, **data})


def condition(key: str, operator: str, value: str) -> dict[str, object]:
    return {"match": "AND", "key": [key], "operator": [operator], "value": [value]}


def test_severity_rule_page_sets_severity_and_the_list_filters_by_it(
    logged_in: TestClient, seed: Tenant, db: Database, app
) -> None:
    created = submit(
        logged_in, seed, "severity", **condition("$exception_types", "exact", "PaymentError"), severity="critical"
    )
    assert created.status_code == 303
    page = logged_in.get(created.headers["location"]).text
    assert "Severity rule created." in page and "sev-critical" in page
    refused = submit(logged_in, seed, "severity", **condition("$exception_types", "exact", "X"), severity="apocalyptic")
    assert refused.status_code == 400 and "is not a valid choice" in refused.text
    with db.read() as session:
        assert [r.severity for r in session.execute(sa.select(SeverityRule)).scalars()] == ["critical"]

    ingest(
        db,
        seed.project,
        [exception_event("PaymentError", "declined"), exception_event("OtherError", "meh")],
        rules=app.state.runtime.rules,
    )
    listing = logged_in.get(f"/project/{seed.project.id}/issues", params={"severity": "critical"}).text
    assert "PaymentError" in listing and "OtherError" not in listing
    everything = logged_in.get(f"/project/{seed.project.id}/issues", params={"order": "severity"}).text
    assert everything.index("PaymentError") < everything.index("OtherError")
    assert '<option value="severity" selected>' in everything


def test_bypass_rule_page_and_ingestion_page_show_limits_and_storage(
    logged_in: TestClient, seed: Tenant, db: Database, app
) -> None:
    created = submit(logged_in, seed, "bypass", **condition("$exception_values", "icontains", "vip"))
    assert created.status_code == 303
    with db.read() as session:
        assert len(session.execute(sa.select(BypassRule)).scalars().all()) == 1
    with db.write() as session:
        session.add(
            ErrorTrackingSettings(
                project_id=seed.project.id, per_issue_rate_limit_value=1, per_issue_rate_limit_bucket_size_minutes=60
            )
        )
    pipeline = Pipeline(db, rules=app.state.runtime.rules, limits=Limits())
    events = [exception_event("LoopError", "plain") for _ in range(3)] + [exception_event("LoopError", "plain vip")]
    for e in events:
        e["properties"]["$exception_fingerprint"] = "loop"
    outcomes = ingest(db, seed.project, events, pipeline=pipeline)
    assert [o.status for o in outcomes] == ["stored", "rate_limited", "rate_limited", "stored"]
    issue_page = logged_in.get(f"/project/{seed.project.id}/issues/{outcomes[0].issue_id}").text
    stored_bytes = re.search(r'data-stored-bytes="(\d+)"', issue_page)
    assert stored_bytes and int(stored_bytes.group(1)) > 0  # two of the four events are stored
    assert "2 stored events" in issue_page

    page = logged_in.get(f"/project/{seed.project.id}/ingestion").text
    assert re.search(r'data-counter="rate_limited">2<', page)
    match = re.search(r'data-storage-bytes="(\d+)"', page)
    assert match and int(match.group(1)) > 0
    assert "LoopError" in page  # the largest issues by stored bytes
