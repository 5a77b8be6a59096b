from __future__ import annotations

import re
from pathlib import Path

import pytest

from faultline.config import ENV_VARS, ConfigError, load_settings, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"FAULTLINE_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/faultline.db"
    assert settings.queue_url == f"sqlite:///{tmp_path}/queue.db"
    assert settings.blob_url == f"file://{tmp_path}/blobs"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.max_body_bytes == 20 * 1024 * 1024
    assert settings.max_decompressed_bytes == 100 * 1024 * 1024
    assert settings.max_event_bytes == 1024 * 1024


def test_secret_key_is_generated_once_and_persisted(tmp_path: Path) -> None:
    first = load_settings({"FAULTLINE_DATA_DIR": str(tmp_path)})
    second = load_settings({"FAULTLINE_DATA_DIR": str(tmp_path)})
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_explicit_secret_key_wins(tmp_path: Path) -> None:
    settings = load_settings({"FAULTLINE_DATA_DIR": str(tmp_path), "FAULTLINE_SECRET_KEY": "x" * 20})
    assert settings.secret_key == "x" * 20
    assert not (tmp_path / "secret_key").exists()


def test_postgres_urls_get_the_psycopg_driver(tmp_path: Path) -> None:
    settings = load_settings({"FAULTLINE_DATA_DIR": str(tmp_path), "FAULTLINE_DATABASE_URL": "postgres://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert not settings.is_sqlite


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAULTLINE_PORT": "eighty"}, "FAULTLINE_PORT='eighty' is not an integer"),
        ({"FAULTLINE_PORT": "70000"}, "FAULTLINE_PORT=70000 must be between 0 and 65535"),
        ({"FAULTLINE_DATABASE_URL": "mysql://x/y"}, "FAULTLINE_DATABASE_URL='mysql://x/y': scheme must be one of"),
        ({"FAULTLINE_QUEUE_URL": "kafka://x"}, "FAULTLINE_QUEUE_URL='kafka://x': scheme must be one of"),
        ({"FAULTLINE_BLOB_URL": "s3://"}, "names no bucket"),
        ({"FAULTLINE_PUBLIC_URL": "example.com"}, "must be an absolute http(s) URL"),
        ({"FAULTLINE_LOG_LEVEL": "loud"}, "FAULTLINE_LOG_LEVEL='loud' must be one of"),
        ({"FAULTLINE_SECRET_KEY": "short"}, "at least 16 characters"),
        ({"FAULTLINE_MAX_EVENT_BYTES": "10"}, "FAULTLINE_MAX_EVENT_BYTES=10 must be >= 1024"),
    ],
)
def test_invalid_values_fail_with_one_clear_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"FAULTLINE_DATA_DIR": str(tmp_path), **env})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_data_dir_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ConfigError, match="is not a directory"):
        load_settings({"FAULTLINE_DATA_DIR": str(path)})


def test_readme_lists_every_environment_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "README configuration table is stale: paste `faultline config --markdown`"
    source_vars = set(re.findall(r"FAULTLINE_[A-Z0-9_]+", (ROOT / "src/faultline/config.py").read_text()))
    documented = {var.name for var in ENV_VARS}
    assert source_vars <= documented, f"undocumented: {sorted(source_vars - documented)}"
