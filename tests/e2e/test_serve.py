"""`faultline serve` as a real process: first-run bootstrap output, health, API access, quiet restarts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.live_server import LiveServer


@pytest.mark.slow
def test_first_run_prints_credentials_that_work(tmp_path: Path) -> None:
    server = LiveServer(data_dir=tmp_path / "data")
    output = server.start()
    try:
        assert f"is running at {server.url}" in output
        creds = server.credentials()
        assert creds["project_token"].startswith("phc_")
        assert creds["api_key"].startswith("phx_")
        assert creds["login"] == "admin@faultline.local" and len(creds["password"]) >= 12

        health = httpx.get(server.url + "/_health").json()
        # `serve` runs the embedded digest worker, so the ingest queue is part of its health.
        assert health == {"status": "ok", "version": health["version"], "database": "ok", "queue": "ok", "reasons": []}
        projects = httpx.get(
            server.url + "/api/projects/", headers={"Authorization": f"Bearer {creds['api_key']}"}
        ).json()
        assert [(p["name"], p["api_token"]) for p in projects["results"]] == [("Demo", creds["project_token"])]
        assert (tmp_path / "data" / "faultline.db").exists()
        assert (tmp_path / "data" / "secret_key").exists()
    finally:
        # uvicorn shuts down gracefully on SIGTERM and then re-raises the signal, so -15 is a clean exit too.
        assert server.stop() in (0, -15)

    again = server.start()
    try:
        assert f"is running at {server.url}" in again
        assert "API key:" not in again and "phx_" not in again and "login:" not in again
        assert (
            httpx.get(
                server.url + "/api/projects/", headers={"Authorization": f"Bearer {creds['api_key']}"}
            ).status_code
            == 200
        )
    finally:
        server.stop()


@pytest.mark.slow
def test_invalid_configuration_exits_with_one_line(tmp_path: Path) -> None:
    server = LiveServer(data_dir=tmp_path / "data", env_overrides={"FAULTLINE_BLOB_URL": "ftp://nope"})
    with pytest.raises(RuntimeError) as info:
        server.start(timeout=15)
    message = str(info.value)
    assert "exited with 2" in message
    assert "faultline: error: FAULTLINE_BLOB_URL='ftp://nope': scheme must be one of file, s3" in message
    assert "Traceback" not in message
