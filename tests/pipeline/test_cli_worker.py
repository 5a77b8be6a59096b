"""CLI surface of the digest worker (its behaviour as processes is in tests/e2e/test_scale_out.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from faultline.cli import app

runner = CliRunner()


def test_worker_command_and_no_worker_flag_are_documented() -> None:
    env = {"COLUMNS": "200", "TERM": "dumb"}
    top = runner.invoke(app, ["--help"], env=env)
    assert "worker" in top.output
    serve = runner.invoke(app, ["serve", "--help"], env=env)
    assert "--no-worker" in serve.output
    worker = runner.invoke(app, ["worker", "--help"], env=env)
    assert worker.exit_code == 0 and "SIGTERM" in worker.output


def test_worker_with_unusable_queue_url_fails_in_one_line(tmp_path) -> None:
    env = {"FAULTLINE_DATA_DIR": str(tmp_path / "data"), "FAULTLINE_QUEUE_URL": "sqlite://"}
    result = runner.invoke(app, ["worker"], env=env)
    assert result.exit_code == 2
    assert "FAULTLINE_QUEUE_URL" in result.output and "Traceback" not in result.output
