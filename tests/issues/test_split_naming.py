"""A split names new issues from their events and fixes a title that described the events that left; the issue
page's fingerprint list says what each fingerprint is (type, message, top frame, events)."""

from __future__ import annotations

import datetime as dt

from faultline.db import Database
from faultline.issues import naming
from tests.conftest import Tenant
from tests.issues.conftest import Api, activities
from tests.support.factories import Ev
from tests.support.ingest import exception_event, ingest, python_frame

T0 = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def test_split_names_issues_and_retitles_the_one_left(api: Api, make, db: Database) -> None:
    target = make(
        name="TypeError",
        description="cart is undefined",
        fingerprints=["fp-type"],
        events=[Ev(T0, "u1", "fp-type")],
    )
    source = make(
        name="KeyError",
        description="'sku'",
        fingerprints=["fp-key"],
        events=[Ev(T0 + dt.timedelta(minutes=5), "u2", "fp-key")],
    )
    assert api.post(f"issues/{target.id}/merge/", json={"ids": [str(source.id)]}).status_code == 200
    # Split the target's own fingerprint off: the new issue is "TypeError", and the issue left behind no longer
    # carries a title that only described the events that moved.
    body = api.post(f"issues/{target.id}/split/", json={"fingerprints": [{"fingerprint": "fp-type"}]}).json()
    [new_id] = body["new_issue_ids"]
    new = api.get(f"issues/{new_id}/").json()
    assert (new["name"], new["description"]) == ("TypeError", "cart is undefined")
    left = api.get(f"issues/{target.id}/").json()
    assert (left["name"], left["description"]) == ("KeyError", "'sku'")
    split_entry = [a for a in activities(db, target.id) if a.activity == "split"][-1]
    assert {"field": "name", "before": "TypeError", "after": "KeyError"}.items() <= split_entry.detail["changes"][
        1
    ].items()


def test_a_title_someone_wrote_survives_a_split(api: Api, make) -> None:
    target = make(
        name="Checkout broken", fingerprints=["fp-a", "fp-b"], events=[Ev(T0, "u", "fp-a"), Ev(T0, "v", "fp-b")]
    )
    assert api.post(f"issues/{target.id}/split/", json={"fingerprints": [{"fingerprint": "fp-a"}]}).status_code == 200
    assert api.get(f"issues/{target.id}/").json()["name"] == "Checkout broken"


def test_fingerprint_summaries(db: Database, seed: Tenant) -> None:
    frames = [
        python_frame("main", filename="app/main.py", lineno=3),
        python_frame("add_to_cart", filename="app/cart.py", lineno=41),
        python_frame("get", filename="lib/dict.py", lineno=9, in_app=False),
    ]
    outcomes = ingest(
        db,
        seed.project,
        [
            exception_event("KeyError", "'sku'", frames=frames),
            exception_event("KeyError", "'sku'", frames=frames),
        ],
    )
    issue_id, fingerprint = outcomes[0].issue_id, outcomes[0].fingerprint
    assert issue_id is not None and fingerprint is not None
    with db.read() as session:
        summary = naming.summarize_fingerprints(session, seed.project.id, issue_id, [fingerprint])[fingerprint]
    assert summary == naming.FingerprintSummary(
        events=2, type="KeyError", message="'sku'", top_frame="add_to_cart (app/cart.py:41)"
    )
