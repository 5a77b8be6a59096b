"""The dialect-dependent SQL of rules and remote config on the machine's real PostgreSQL: upserts (revision bump,
controls create-once, settings), JSON null vs SQL NULL in `disabled_data`, and the executemany reorder."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.app import create_app
from faultline.rules.models import SuppressionRule
from tests.conftest import make_settings, make_tenant

pytestmark = pytest.mark.postgres

TYPE_ERROR = {
    "type": "OR",
    "values": [{"key": "$exception_types", "type": "event", "operator": "exact", "value": ["TypeError"]}],
}


def test_rules_controls_settings_and_remote_config_on_postgres(pg_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data", FAULTLINE_DATABASE_URL=pg_url))
    with TestClient(app) as client:
        db = app.state.db
        assert db.dialect == "postgresql"
        tenant = make_tenant(db, email="pg@acme.test")
        base = f"/api/environments/{tenant.project.id}/error_tracking"
        config_url = f"/array/{tenant.project.api_token}/config"

        ids = [
            client.post(f"{base}/suppression_rules/", headers=tenant.headers, json={"filters": TYPE_ERROR}).json()["id"]
            for _ in range(3)
        ]
        assert (
            client.patch(
                f"{base}/suppression_rules/reorder/", headers=tenant.headers, json={"orders": {ids[0]: 9, ids[2]: -1}}
            ).status_code
            == 204
        )
        listing = client.get(f"{base}/suppression_rules/", headers=tenant.headers).json()["results"]
        assert [(r["id"], r["order_key"]) for r in listing] == [(ids[2], -1), (ids[1], 0), (ids[0], 9)]

        assert len(client.get(config_url).json()["errorTracking"]["suppressionRules"]) == 3
        with db.write() as session:
            session.execute(
                sa.update(SuppressionRule)
                .where(SuppressionRule.id == uuid.UUID(ids[1]))
                .values(disabled_data={"message": "x"})
            )
        assert (
            len(client.get(config_url).json()["errorTracking"]["suppressionRules"]) == 3
        )  # revision not bumped by raw SQL
        assert client.patch(f"{base}/suppression_rules/{ids[1]}/", headers=tenant.headers, json={}).status_code == 204
        with db.read() as session:
            raw = session.execute(
                sa.text("SELECT disabled_data IS NULL FROM suppression_rules WHERE id = :id"), {"id": uuid.UUID(ids[1])}
            ).scalar()
        assert raw is True  # re-enabling writes SQL NULL, not JSON null

        created = client.post(f"{base}/autocapture_controls/", headers=tenant.headers, json={"sample_rate": "0.4"})
        again = client.post(f"{base}/autocapture_controls/", headers=tenant.headers, json={"sample_rate": "0.9"})
        assert (created.status_code, again.status_code, again.json()["sample_rate"]) == (201, 200, "0.40")
        for value in (10, 20):
            response = client.patch(
                f"{base}/settings/update_settings/",
                headers=tenant.headers,
                json={"per_issue_rate_limit_value": value, "autocapture_exceptions_opt_in": value == 20},
            )
            assert response.json()["per_issue_rate_limit_value"] == value

        config = client.get(config_url).json()
        assert config["autocaptureExceptions"] is True
        assert config["errorTracking"]["autoCaptureControls"]["web"]["sampleRate"] == 0.4
        assert len(config["errorTracking"]["suppressionRules"]) == 3
        flags = client.post("/flags/?v=2&config=true", json={"token": tenant.project.api_token}).json()
        assert flags["errorTracking"] == config["errorTracking"]
