"""Settings from environment variables.

Every knob lives here and in the README's configuration table, nowhere else. Invalid values raise
`ConfigError` with a one-line message naming the variable, so `faultline serve` can fail fast with something a
human can act on instead of a traceback from deep inside SQLAlchemy or uvicorn.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MIB = 1024 * 1024


class ConfigError(ValueError):
    """A configuration value is unusable; the message is meant to be printed as-is."""


@dataclass(frozen=True)
class EnvVar:
    """One documented environment variable (the README table is generated from these)."""

    name: str
    default: str
    help: str


# The single source of truth for the README configuration table (`faultline config --markdown` prints it).
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("FAULTLINE_DATA_DIR", "./data", "Directory for the embedded database, queue, blobs and the secret key."),
    EnvVar(
        "FAULTLINE_DATABASE_URL",
        "sqlite:///<data dir>/faultline.db",
        "SQLAlchemy URL of the main database: `sqlite:///path` or `postgresql://user@host/db`.",
    ),
    EnvVar(
        "FAULTLINE_QUEUE_URL",
        "sqlite:///<data dir>/queue.db",
        "Ingest queue: `sqlite:///path` (embedded, durable) or `redis://host:6379/0` (Redis Streams).",
    ),
    EnvVar(
        "FAULTLINE_BLOB_URL",
        "file://<data dir>/blobs",
        "Blob storage for symbol sets: `file:///path` or `s3://bucket/prefix`.",
    ),
    EnvVar("FAULTLINE_S3_ENDPOINT_URL", "", "S3-compatible endpoint (MinIO, R2, moto…); empty = AWS."),
    EnvVar("FAULTLINE_S3_REGION", "us-east-1", "Region used to sign S3 requests."),
    EnvVar("FAULTLINE_S3_ACCESS_KEY_ID", "", "S3 access key; empty = boto3's default credential chain."),
    EnvVar("FAULTLINE_S3_SECRET_ACCESS_KEY", "", "S3 secret key."),
    EnvVar(
        "FAULTLINE_SECRET_KEY",
        "generated",
        "Key for signing sessions and upload URLs; generated into `<data dir>/secret_key` on first run.",
    ),
    EnvVar("FAULTLINE_HOST", "127.0.0.1", "Interface the HTTP server binds to."),
    EnvVar("FAULTLINE_PORT", "8000", "Port the HTTP server binds to."),
    EnvVar(
        "FAULTLINE_PUBLIC_URL",
        "http://<host>:<port>",
        "URL SDKs and browsers use to reach this server (pagination links, SDK snippets, upload URLs).",
    ),
    EnvVar("FAULTLINE_LOG_LEVEL", "info", "Log level: debug, info, warning, error."),
    EnvVar("FAULTLINE_MAX_BODY_BYTES", str(20 * MIB), "Largest accepted (compressed) capture request body."),
    EnvVar(
        "FAULTLINE_MAX_DECOMPRESSED_BYTES",
        str(100 * MIB),
        "Decompression stops (413) once a capture body inflates past this size.",
    ),
    EnvVar("FAULTLINE_MAX_EVENT_BYTES", str(1 * MIB), "Largest single event accepted by capture endpoints."),
    EnvVar(
        "FAULTLINE_SYMBOL_REPAIR_DAYS",
        "7",
        "After a symbol set is uploaded, stored events of the last N days that used it are re-symbolicated and "
        "re-grouped in the background; 0 turns this off.",
    ),
    EnvVar(
        "FAULTLINE_SOURCEMAP_FETCH",
        "true",
        "Fetch a minified script and its source map from the web when a JS frame has no uploaded symbol set.",
    ),
    EnvVar(
        "FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS",
        "false",
        "Let source-map fetching reach loopback, private and link-local addresses (SSRF risk; for intranets only).",
    ),
    EnvVar("FAULTLINE_SOURCEMAP_MAX_BYTES", str(20 * MIB), "Largest script or source map fetched from the web."),
    EnvVar("FAULTLINE_SOURCEMAP_TIMEOUT", "30", "Seconds allowed for each script or source-map fetch."),
    EnvVar(
        "FAULTLINE_SYMBOL_CACHE_MB",
        "100",
        "Memory budget of the in-process cache of parsed source maps, Hermes maps and ProGuard mappings.",
    ),
    EnvVar(
        "FAULTLINE_WORKER_BATCH_SIZE",
        "500",
        "Events the digest worker takes from the queue per batch (one database transaction each).",
    ),
)


def _env_default(name: str) -> str:
    for var in ENV_VARS:
        if var.name == name:
            return var.default
    raise KeyError(name)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    queue_url: str
    blob_url: str
    secret_key: str
    host: str
    port: int
    public_url: str
    log_level: str
    max_body_bytes: int
    max_decompressed_bytes: int
    max_event_bytes: int
    worker_batch_size: int = 500
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    symbol_repair_days: int = 7
    sourcemap_fetch: bool = True
    sourcemap_allow_internal_ips: bool = False
    sourcemap_max_bytes: int = 20 * MIB
    sourcemap_timeout: int = 30
    symbol_cache_mb: int = 100

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def _parse_int(env: Mapping[str, str], name: str, *, minimum: int, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip() or _env_default(name)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name}={value} must be {bound}")
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _parse_bool(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name, "").strip() or _env_default(name)).lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} must be true or false")


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    scheme = urlsplit(value).scheme.split("+", 1)[0]
    if scheme not in schemes:
        raise ConfigError(f"{name}={value!r}: scheme must be one of {', '.join(schemes)}")
    return value


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _normalise_database_url(value: str) -> str:
    """psycopg 3 is the only PostgreSQL driver we ship; accept the plain scheme users copy from docs."""
    if value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://") :]
    if value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    return value


def _secret_key(env: Mapping[str, str], data_dir: Path, *, create: bool) -> str:
    explicit = env.get("FAULTLINE_SECRET_KEY", "").strip()
    if explicit:
        if len(explicit) < 16:
            raise ConfigError("FAULTLINE_SECRET_KEY must be at least 16 characters")
        return explicit
    path = data_dir / "secret_key"
    if path.exists():
        value = path.read_text().strip()
        if len(value) < 16:
            raise ConfigError(f"{path} holds a secret key shorter than 16 characters; delete it to regenerate")
        return value
    if not create:
        return "unpersisted-" + secrets.token_urlsafe(32)
    value = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def load_settings(env: Mapping[str, str] | None = None, *, create_dirs: bool = True) -> Settings:
    """Read and validate settings; `create_dirs` creates the data dir and persists a generated secret key."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("FAULTLINE_DATA_DIR", "").strip() or "./data").expanduser().resolve()
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"FAULTLINE_DATA_DIR={data_dir} exists and is not a directory")
    if create_dirs:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"FAULTLINE_DATA_DIR={data_dir} cannot be created: {exc.strerror}") from None

    database_url = env.get("FAULTLINE_DATABASE_URL", "").strip() or _sqlite_url(data_dir / "faultline.db")
    database_url = _check_url("FAULTLINE_DATABASE_URL", _normalise_database_url(database_url), ("sqlite", "postgresql"))
    queue_url = env.get("FAULTLINE_QUEUE_URL", "").strip() or _sqlite_url(data_dir / "queue.db")
    queue_url = _check_url("FAULTLINE_QUEUE_URL", queue_url, ("sqlite", "redis", "rediss"))
    blob_url = env.get("FAULTLINE_BLOB_URL", "").strip() or f"file://{data_dir / 'blobs'}"
    blob_url = _check_url("FAULTLINE_BLOB_URL", blob_url, ("file", "s3"))
    if blob_url.startswith("s3://") and not urlsplit(blob_url).netloc:
        raise ConfigError(f"FAULTLINE_BLOB_URL={blob_url!r} names no bucket (expected s3://bucket/prefix)")

    host = env.get("FAULTLINE_HOST", "").strip() or "127.0.0.1"
    port = _parse_int(env, "FAULTLINE_PORT", minimum=0, maximum=65535)
    public_url = env.get("FAULTLINE_PUBLIC_URL", "").strip()
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"FAULTLINE_PUBLIC_URL={public_url!r} must be an absolute http(s) URL")
        public_url = public_url.rstrip("/")
    else:
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        public_url = f"http://{shown_host}:{port}"

    log_level = (env.get("FAULTLINE_LOG_LEVEL", "").strip() or "info").lower()
    if log_level not in ("debug", "info", "warning", "error", "critical"):
        raise ConfigError(f"FAULTLINE_LOG_LEVEL={log_level!r} must be one of debug, info, warning, error")

    max_body = _parse_int(env, "FAULTLINE_MAX_BODY_BYTES", minimum=1024)
    max_decompressed = _parse_int(env, "FAULTLINE_MAX_DECOMPRESSED_BYTES", minimum=1024)
    max_event = _parse_int(env, "FAULTLINE_MAX_EVENT_BYTES", minimum=1024)
    if max_event > max_decompressed:
        raise ConfigError("FAULTLINE_MAX_EVENT_BYTES must not exceed FAULTLINE_MAX_DECOMPRESSED_BYTES")

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        queue_url=queue_url,
        blob_url=blob_url,
        secret_key=_secret_key(env, data_dir, create=create_dirs),
        host=host,
        port=port,
        public_url=public_url,
        log_level=log_level,
        max_body_bytes=max_body,
        max_decompressed_bytes=max_decompressed,
        max_event_bytes=max_event,
        worker_batch_size=_parse_int(env, "FAULTLINE_WORKER_BATCH_SIZE", minimum=1, maximum=10_000),
        s3_endpoint_url=env.get("FAULTLINE_S3_ENDPOINT_URL", "").strip() or None,
        s3_region=env.get("FAULTLINE_S3_REGION", "").strip() or "us-east-1",
        s3_access_key_id=env.get("FAULTLINE_S3_ACCESS_KEY_ID", "").strip() or None,
        s3_secret_access_key=env.get("FAULTLINE_S3_SECRET_ACCESS_KEY", "").strip() or None,
        symbol_repair_days=_parse_int(env, "FAULTLINE_SYMBOL_REPAIR_DAYS", minimum=0, maximum=3650),
        sourcemap_fetch=_parse_bool(env, "FAULTLINE_SOURCEMAP_FETCH"),
        sourcemap_allow_internal_ips=_parse_bool(env, "FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS"),
        sourcemap_max_bytes=_parse_int(env, "FAULTLINE_SOURCEMAP_MAX_BYTES", minimum=1024),
        sourcemap_timeout=_parse_int(env, "FAULTLINE_SOURCEMAP_TIMEOUT", minimum=1, maximum=600),
        symbol_cache_mb=_parse_int(env, "FAULTLINE_SYMBOL_CACHE_MB", minimum=1),
    )


def markdown_table() -> str:
    """The README configuration table, so docs and code cannot drift (a test compares them)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{v.name}` | {f'`{v.default}`' if v.default else '(empty)'} | {v.help} |" for v in ENV_VARS]
    return "\n".join(lines)
