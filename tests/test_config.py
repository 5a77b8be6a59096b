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
    assert settings.max_decompressed_bytes == 20 * 1024 * 1024
    assert settings.max_event_bytes == 1024 * 1024
    assert (settings.max_json_values, settings.max_concurrent_decodes) == (250_000, 1)


def test_fetch_and_symbol_set_limits(tmp_path: Path) -> None:
    defaults = load_settings({"FAULTLINE_DATA_DIR": str(tmp_path)})
    assert (defaults.sourcemap_timeout, defaults.sourcemap_deadline, defaults.sourcemap_batch_budget) == (10, 20, 30)
    assert defaults.sourcemap_negative_ttl == 300 and defaults.symbol_set_max_bytes == 100 * 1024 * 1024
    edges = load_settings(
        {
            "FAULTLINE_DATA_DIR": str(tmp_path),
            "FAULTLINE_SOURCEMAP_TIMEOUT": "0.1",
            "FAULTLINE_SOURCEMAP_DEADLINE": "0.5",
            "FAULTLINE_SOURCEMAP_BATCH_BUDGET": "3600",
            "FAULTLINE_SOURCEMAP_NEGATIVE_TTL": "0",
            "FAULTLINE_SYMBOL_SET_MAX_BYTES": "1024",
        }
    )
    assert (edges.sourcemap_timeout, edges.sourcemap_deadline, edges.sourcemap_batch_budget) == (0.1, 0.5, 3600)
    assert (edges.sourcemap_negative_ttl, edges.symbol_set_max_bytes) == (0, 1024)


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
        ({"FAULTLINE_QUEUE_MAX_EVENTS": "0"}, "FAULTLINE_QUEUE_MAX_EVENTS=0 must be >= 1"),
        ({"FAULTLINE_QUEUE_MAX_BYTES": "1048575"}, "FAULTLINE_QUEUE_MAX_BYTES must be at least FAULTLINE_MAX_EVENT"),
        ({"FAULTLINE_QUEUE_DEAD_CONSUMER_SECONDS": "0"}, "FAULTLINE_QUEUE_DEAD_CONSUMER_SECONDS=0 must be >= 1"),
        ({"FAULTLINE_SOURCEMAP_DEADLINE": "soon"}, "FAULTLINE_SOURCEMAP_DEADLINE='soon' is not a number of seconds"),
        ({"FAULTLINE_SOURCEMAP_DEADLINE": "0"}, "FAULTLINE_SOURCEMAP_DEADLINE=0 must be between 0.1 and 600 seconds"),
        ({"FAULTLINE_SOURCEMAP_DEADLINE": "nan"}, "must be between 0.1 and 600 seconds"),
        ({"FAULTLINE_SOURCEMAP_TIMEOUT": "601"}, "FAULTLINE_SOURCEMAP_TIMEOUT=601 must be between 0.1 and 600"),
        ({"FAULTLINE_SOURCEMAP_BATCH_BUDGET": "0.05"}, "FAULTLINE_SOURCEMAP_BATCH_BUDGET=0.05 must be between 0.1"),
        ({"FAULTLINE_SOURCEMAP_NEGATIVE_TTL": "-1"}, "FAULTLINE_SOURCEMAP_NEGATIVE_TTL=-1 must be between 0 and"),
        ({"FAULTLINE_SYMBOL_SET_MAX_BYTES": "1023"}, "FAULTLINE_SYMBOL_SET_MAX_BYTES=1023 must be >= 1024"),
        ({"FAULTLINE_MAX_HEADER_BYTES": "1023"}, "FAULTLINE_MAX_HEADER_BYTES=1023 must be between 1024 and"),
        ({"FAULTLINE_HEADER_TIMEOUT": "0"}, "FAULTLINE_HEADER_TIMEOUT=0 must be between 1 and 3600"),
        ({"FAULTLINE_BODY_TIMEOUT": "0"}, "FAULTLINE_BODY_TIMEOUT=0 must be between 1 and 86400"),
        ({"FAULTLINE_BODY_MIN_RATE": "-1"}, "FAULTLINE_BODY_MIN_RATE=-1 must be >= 0"),
        ({"FAULTLINE_MAX_CONNECTIONS": "0"}, "FAULTLINE_MAX_CONNECTIONS=0 must be between 1 and 1000000"),
        ({"FAULTLINE_HEALTH_BACKLOG_THRESHOLD": "-1"}, "FAULTLINE_HEALTH_BACKLOG_THRESHOLD=-1 must be >= 0"),
        ({"FAULTLINE_MAX_JSON_VALUES": "999"}, "FAULTLINE_MAX_JSON_VALUES=999 must be >= 1000"),
        ({"FAULTLINE_MAX_CONCURRENT_DECODES": "0"}, "FAULTLINE_MAX_CONCURRENT_DECODES=0 must be between 1 and 64"),
        ({"FAULTLINE_RULE_PREVIEW_EVENTS": "0"}, "FAULTLINE_RULE_PREVIEW_EVENTS=0 must be between 1 and 1000000"),
    ],
)
def test_invalid_values_fail_with_one_clear_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"FAULTLINE_DATA_DIR": str(tmp_path), **env})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_queue_bounds_at_their_edges(tmp_path: Path) -> None:
    """The queue may hold exactly one largest event; the bound is what the queues are opened with."""
    from faultline.ingest.queue import open_queue_for

    settings = load_settings(
        {
            "FAULTLINE_DATA_DIR": str(tmp_path),
            "FAULTLINE_QUEUE_MAX_BYTES": "1048576",
            "FAULTLINE_MAX_EVENT_BYTES": "1048576",
            "FAULTLINE_QUEUE_MAX_EVENTS": "1",
        }
    )
    assert (settings.queue_max_bytes, settings.queue_max_events) == (1048576, 1)
    queue = open_queue_for(settings)
    try:
        assert (queue.limits.max_events, queue.limits.max_bytes) == (1, 1048576)
    finally:
        queue.close()
    defaults = load_settings({"FAULTLINE_DATA_DIR": str(tmp_path)})
    assert (defaults.queue_max_events, defaults.queue_max_bytes) == (1_000_000, 1024 * 1024 * 1024)


def test_http_limits_accept_their_edge_values(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "FAULTLINE_DATA_DIR": str(tmp_path),
            "FAULTLINE_MAX_HEADER_BYTES": "1024",
            "FAULTLINE_HEADER_TIMEOUT": "1",
            "FAULTLINE_BODY_TIMEOUT": "1",
            "FAULTLINE_BODY_MIN_RATE": "0",
            "FAULTLINE_MAX_CONNECTIONS": "1",
            "FAULTLINE_HEALTH_BACKLOG_THRESHOLD": "0",
        }
    )
    assert (settings.max_header_bytes, settings.header_timeout, settings.body_timeout) == (1024, 1, 1)
    assert (settings.body_min_rate, settings.max_connections, settings.health_backlog_threshold) == (0, 1, 0)


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
