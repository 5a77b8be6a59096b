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
        "FAULTLINE_QUEUE_MAX_EVENTS",
        "1000000",
        "Most events the queue holds before the digest took them; past it capture answers 503 `queue_full` "
        "with `Retry-After` (the SDKs retry), so a stopped or stalled worker cannot fill the disk or Redis.",
    ),
    EnvVar(
        "FAULTLINE_QUEUE_MAX_BYTES",
        str(1024 * MIB),
        "Most payload bytes the queue holds (same 503 `queue_full` past it); at least `FAULTLINE_MAX_EVENT_BYTES`.",
    ),
    EnvVar(
        "FAULTLINE_QUEUE_DEAD_CONSUMER_SECONDS",
        "3600",
        "Redis queue: a consumer (one per worker process) idle this long with no pending entries is removed from "
        "the consumer group.",
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
        str(20 * MIB),
        "Decompression stops (413) once a capture body inflates past this size (PostHog caps a batch at 20 MB).",
    ),
    EnvVar(
        "FAULTLINE_MAX_JSON_VALUES",
        "250000",
        "Most JSON values (objects, arrays, strings, numbers, literals; keys not counted) in one capture body, "
        "checked before parsing (413): parsing costs up to ~130 bytes of memory per value and holds the GIL "
        "(~15 ms per 250 k values). A batch of 100 real SDK events holds 12–50 k.",
    ),
    EnvVar(
        "FAULTLINE_MAX_CONCURRENT_DECODES",
        "1",
        "Capture bodies that decode past 256 KiB are decoded and parsed off the event loop, at most this many at "
        "once (others wait): peak decode memory ≈ this × (decompressed cap + values × 130 B). Decoding holds the "
        "GIL, so a second one adds little throughput and makes the event loop wait behind two threads for it.",
    ),
    EnvVar(
        "FAULTLINE_MAX_INFLIGHT_BODY_BYTES",
        str(256 * MIB),
        "Capture bodies being received or handled at once may hold at most this many bytes together (a declared "
        "`Content-Length` counts in full at once); past it capture answers 503 `server_busy` with `Retry-After: 1`. "
        "Bounds what many slow or large uploads can take, whatever the connection count.",
    ),
    EnvVar("FAULTLINE_MAX_EVENT_BYTES", str(1 * MIB), "Largest single event accepted by capture endpoints."),
    EnvVar(
        "FAULTLINE_SENTRY_MAX_ITEMS",
        "100",
        "Most items one Sentry envelope may carry (SDKs send an event with a few attachments or a client report); "
        "more is refused with 413 before any item is read.",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_MAX_HEADER_BYTES",
        "16384",
        "Longest envelope or item header line of a Sentry envelope (413 past it).",
    ),
    EnvVar(
        "FAULTLINE_MAX_HEADER_BYTES",
        "65536",
        "Largest request line + headers of one HTTP request; more is answered 431 and the connection closed.",
    ),
    EnvVar(
        "FAULTLINE_HEADER_TIMEOUT",
        "10",
        "Seconds a client may take to send a request's headers (from connecting, or from the first byte of a "
        "request on a kept-alive connection); then 408 and the connection is closed.",
    ),
    EnvVar(
        "FAULTLINE_BODY_TIMEOUT",
        "30",
        "Seconds a client may take to send a request body, plus one second per FAULTLINE_BODY_MIN_RATE bytes "
        "received; then 408 and the connection is closed.",
    ),
    EnvVar(
        "FAULTLINE_BODY_MIN_RATE",
        "16384",
        "Bytes per second that extend a body's time allowance (large uploads at a decent rate are never cut); 0 = "
        "a fixed FAULTLINE_BODY_TIMEOUT.",
    ),
    EnvVar(
        "FAULTLINE_MAX_CONNECTIONS",
        "1000",
        "Open HTTP connections at most. Past it, a new connection closes the idlest slow one (idle keep-alive, "
        "then slowest headers, then slowest body) or, if every connection is being served, gets 503.",
    ),
    EnvVar(
        "FAULTLINE_HEALTH_BACKLOG_THRESHOLD",
        "100000",
        "`/_health` reports `degraded` while more events than this wait in the queue; 0 = never.",
    ),
    EnvVar(
        "FAULTLINE_RULE_PREVIEW_EVENTS",
        "10000",
        "A rule's preview (\"matches N of the last 7 days' events\", `…/dry_run/`) evaluates at most this many of the "
        "newest stored events, so a preview costs a bounded ≈ 0.35 s of CPU per 10 000 events (bench data: JSON "
        "decoding dominates) however busy the project; beyond it the preview says it looked at the newest ones.",
    ),
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
    EnvVar(
        "FAULTLINE_SOURCEMAP_MAX_BYTES",
        str(20 * MIB),
        "Largest script or source map fetched from the web, counted after decoding `gzip`/`br`/`zstd`/`deflate` "
        "(decoding stops there).",
    ),
    EnvVar(
        "FAULTLINE_SOURCEMAP_TIMEOUT",
        "10",
        "Seconds a script host may stay silent (connecting, or between two reads) before its fetch gives up.",
    ),
    EnvVar(
        "FAULTLINE_SOURCEMAP_DEADLINE",
        "20",
        "Hard wall-clock limit in seconds for fetching one script and its source map (DNS, redirects, every "
        "request and byte included), however the host trickles.",
    ),
    EnvVar(
        "FAULTLINE_SOURCEMAP_BATCH_BUDGET",
        "30",
        "Seconds one digest batch (or repair chunk) may spend fetching scripts and source maps in all; frames "
        "still needing a fetch after that stay unresolved (with that reason) and a later event fetches them.",
    ),
    EnvVar(
        "FAULTLINE_SOURCEMAP_NEGATIVE_TTL",
        "300",
        "Seconds a failed fetch is remembered and not retried: the URL after a timeout, 5xx or network error, its "
        "host (for every project) after a timeout or connection failure; 0 remembers nothing.",
    ),
    EnvVar(
        "FAULTLINE_SYMBOL_SET_MAX_BYTES",
        str(100 * MIB),
        "Largest decompressed contents of a symbol set: uploads inflating past it are refused "
        "(`decompressed_too_large`), stored ones are not loaded (decompression stops at the limit).",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_CHUNK_BYTES",
        str(8 * MIB),
        "sentry-cli chunk upload: the chunk size the server asks for and the largest chunk it stores (after gzip).",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_CHUNKS_PER_REQUEST",
        "64",
        "sentry-cli chunk upload: most chunks in one upload request (the body is also capped at this many chunks).",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_CHUNK_REQUEST_BYTES",
        str(32 * MIB),
        "sentry-cli chunk upload: most chunk bytes in one upload request (sentry-cli batches its chunks to fit; at "
        "least one chunk); the body and the chunks it inflates to are refused past it (413).",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_PENDING_BYTES",
        str(1024 * MIB),
        "sentry-cli chunk upload: most bytes of chunks an organization may have uploaded that no bundle has used "
        "yet; past it uploads are refused (400 `too_many_pending_chunks`) until bundles are assembled or expire.",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_CHUNK_TTL",
        "3600",
        "Seconds an uploaded chunk waits for its bundle to be assembled; older ones are deleted on the "
        "organization's next upload.",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_BUNDLE_MAX_BYTES",
        str(100 * MIB),
        "Largest artifact bundle (the zip sentry-cli assembles from chunks) the assemble endpoint accepts.",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_BUNDLE_MAX_FILES",
        "10000",
        "Most entries in an artifact bundle zip; more is refused before the zip directory is read.",
    ),
    EnvVar(
        "FAULTLINE_SENTRY_BUNDLE_MAX_UNCOMPRESSED_BYTES",
        str(512 * MIB),
        "Most bytes an artifact bundle's entries may inflate to in total (zip bombs are refused before inflating).",
    ),
    EnvVar(
        "FAULTLINE_SYMBOL_CACHE_MB",
        "100",
        "Memory budget of the in-process cache of parsed source maps, Hermes maps and ProGuard mappings; a set "
        "that alone exceeds it is used by the batch that needs it but not cached.",
    ),
    EnvVar(
        "FAULTLINE_WORKER_BATCH_SIZE",
        "500",
        "Events the digest worker takes from the queue per batch (one database transaction each).",
    ),
    EnvVar(
        "FAULTLINE_WORKER_BATCH_BYTES",
        str(8 * MIB),
        "Most payload bytes the digest worker takes from the queue per batch (a single larger event still goes "
        "alone): a batch's memory grows ~20× its payload bytes while digested, so this, not the event count, "
        "bounds the worker's memory when events are large (500 Sentry events of 50 KB took it to ~600 MiB).",
    ),
    EnvVar(
        "FAULTLINE_NEW_ISSUES_PER_HOUR",
        "1000",
        "Most new issues one project may create per hour (fingerprint explosions); events that would open more are "
        "dropped and counted as `new_issue_limited`. 0 = no limit. Fails open if the limiter cannot be read.",
    ),
    EnvVar(
        "FAULTLINE_RETENTION_DAYS",
        "90",
        "Stored events whose timestamp is older than this many days are deleted (issue counters stay). 0 = keep.",
    ),
    EnvVar(
        "FAULTLINE_STORAGE_BUDGET",
        "0",
        "Bytes of stored events to stay under: past it the least valuable events are evicted (never an issue's "
        "first, last or reopening event; a sample of the rest is kept longest). 0 = no budget.",
    ),
    EnvVar(
        "FAULTLINE_RETENTION_INTERVAL",
        "60",
        "Seconds between retention passes (age, budget, symbol sets) of the background retention service.",
    ),
    EnvVar(
        "FAULTLINE_RETENTION_BATCH",
        "500",
        "Events deleted per retention transaction: small, so a pass never holds the write lock long.",
    ),
    EnvVar(
        "FAULTLINE_SYMBOL_SET_MAX_AGE_DAYS",
        "180",
        "Symbol sets not used to resolve a frame for this many days (or never, since upload) are deleted. 0 = keep.",
    ),
    EnvVar(
        "FAULTLINE_STORAGE_WARN_PERCENT",
        "80",
        "`/_health` and the UI warn once stored events pass this percentage of `FAULTLINE_STORAGE_BUDGET`, or the "
        "data directory's disk is this full. 0 = never warn.",
    ),
    EnvVar(
        "FAULTLINE_SMTP_URL",
        "",
        "SMTP server for e-mail alert destinations: `smtp://user:pass@host:587` (STARTTLS when offered), "
        "`smtps://…:465` (TLS); empty = e-mail destinations cannot be used.",
    ),
    EnvVar("FAULTLINE_SMTP_FROM", "faultline@localhost", "Sender address of alert e-mails."),
    EnvVar(
        "FAULTLINE_ALERTS_PER_PROJECT", "100", "Most alert rules one project may have (creating one more answers 400)."
    ),
    EnvVar("FAULTLINE_ALERT_DESTINATIONS_MAX", "10", "Most destinations one alert may send to."),
    EnvVar("FAULTLINE_ALERT_URL_MAX_LENGTH", "2048", "Longest destination URL (webhook, Slack, Discord, Teams)."),
    EnvVar(
        "FAULTLINE_ALERT_ALLOW_INTERNAL_URLS",
        "false",
        "Allow destination URLs that resolve to private, loopback or link-local addresses (a receiver on your own "
        "network); off, such URLs are refused when sending so an API key cannot probe internal services.",
    ),
    EnvVar("FAULTLINE_ALERT_TIMEOUT", "10", "Seconds one notification request (HTTP or SMTP) may take."),
    EnvVar(
        "FAULTLINE_ALERT_MAX_ATTEMPTS",
        "8",
        "Attempts per notification before it is given up as failed (retries back off exponentially).",
    ),
    EnvVar(
        "FAULTLINE_ALERT_RETRY_SECONDS",
        "5",
        "Delay before the first retry of a failed notification; each further retry waits twice as long (capped at "
        "one hour).",
    ),
    EnvVar(
        "FAULTLINE_ALERT_FAILING_AFTER",
        "3",
        "Consecutive failed attempts after which a destination is shown as failing (until one succeeds).",
    ),
    EnvVar(
        "FAULTLINE_ALERT_POLL_SECONDS",
        "1",
        "How often the alert deliverer looks for new lifecycle rows and due retries.",
    ),
    EnvVar(
        "FAULTLINE_POSTHOG_JS_DIR",
        "<data dir>/posthog-js",
        "posthog-js builds served under `/static/` (the snippet's `array.js`, lazy-loaded extensions such as "
        "exception autocapture); filled by `faultline posthog-js install`.",
    ),
    EnvVar(
        "FAULTLINE_NPM_REGISTRY",
        "https://registry.npmjs.org",
        "npm registry (or mirror) that `faultline posthog-js install` downloads posthog-js from.",
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
    max_json_values: int = 250_000
    max_concurrent_decodes: int = 1
    max_inflight_body_bytes: int = 256 * MIB
    worker_batch_size: int = 500
    worker_batch_bytes: int = 8 * MIB
    queue_max_events: int = 1_000_000
    queue_max_bytes: int = 1024 * MIB
    queue_dead_consumer_seconds: int = 3600
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    symbol_repair_days: int = 7
    sourcemap_fetch: bool = True
    sourcemap_allow_internal_ips: bool = False
    sourcemap_max_bytes: int = 20 * MIB
    sourcemap_timeout: float = 10.0
    sourcemap_deadline: float = 20.0
    sourcemap_batch_budget: float = 30.0
    sourcemap_negative_ttl: float = 300.0
    symbol_set_max_bytes: int = 100 * MIB
    symbol_cache_mb: int = 100
    sentry_chunk_bytes: int = 8 * MIB
    sentry_chunks_per_request: int = 64
    sentry_chunk_request_bytes: int = 32 * MIB
    sentry_pending_bytes: int = 1024 * MIB
    sentry_chunk_ttl: float = 3600.0
    sentry_bundle_max_bytes: int = 100 * MIB
    sentry_bundle_max_files: int = 10_000
    sentry_bundle_max_uncompressed_bytes: int = 512 * MIB
    posthog_js_dir: Path | None = None
    npm_registry: str = "https://registry.npmjs.org"
    max_header_bytes: int = 65536
    header_timeout: int = 10
    body_timeout: int = 30
    body_min_rate: int = 16384
    max_connections: int = 1000
    health_backlog_threshold: int = 100_000
    sentry_max_items: int = 100
    sentry_max_header_bytes: int = 16384
    new_issues_per_hour: int = 1000
    retention_days: int = 90
    storage_budget: int = 0
    retention_interval: float = 60.0
    retention_batch: int = 500
    symbol_set_max_age_days: int = 180
    storage_warn_percent: int = 80
    smtp_url: str | None = None
    smtp_from: str = "faultline@localhost"
    alerts_per_project: int = 100
    alert_destinations_max: int = 10
    alert_url_max_length: int = 2048
    alert_allow_internal_urls: bool = False
    alert_timeout: float = 10.0
    alert_max_attempts: int = 8
    alert_retry_seconds: float = 5.0
    alert_failing_after: int = 3
    alert_poll_seconds: float = 1.0
    rule_preview_events: int = 10_000

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


def _parse_seconds(env: Mapping[str, str], name: str, *, minimum: float, maximum: float) -> float:
    """Seconds, fractions allowed (`0.5`): small values make the limits testable in well under a second."""
    raw = env.get(name, "").strip() or _env_default(name)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if not minimum <= value <= maximum:  # also false for nan
        raise ConfigError(f"{name}={raw} must be between {minimum:g} and {maximum:g} seconds")
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


def _npm_registry(env: Mapping[str, str]) -> str:
    value = env.get("FAULTLINE_NPM_REGISTRY", "").strip() or _env_default("FAULTLINE_NPM_REGISTRY")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"FAULTLINE_NPM_REGISTRY={value!r} must be an absolute http(s) URL")
    return value.rstrip("/")


def _smtp_url(env: Mapping[str, str]) -> str | None:
    value = env.get("FAULTLINE_SMTP_URL", "").strip()
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("FAULTLINE_SMTP_URL must look like smtp://user:pass@host:587 or smtps://host:465")
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
    queue_max_bytes = _parse_int(env, "FAULTLINE_QUEUE_MAX_BYTES", minimum=1024)
    if queue_max_bytes < max_event:  # else an event of allowed size could never be queued, even into an empty queue
        raise ConfigError("FAULTLINE_QUEUE_MAX_BYTES must be at least FAULTLINE_MAX_EVENT_BYTES")
    max_inflight = _parse_int(env, "FAULTLINE_MAX_INFLIGHT_BODY_BYTES", minimum=1024)
    if max_inflight < max_body:  # else a body of allowed size would be refused as "busy" for ever
        raise ConfigError("FAULTLINE_MAX_INFLIGHT_BODY_BYTES must be at least FAULTLINE_MAX_BODY_BYTES")

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
        max_json_values=_parse_int(env, "FAULTLINE_MAX_JSON_VALUES", minimum=1000),
        max_concurrent_decodes=_parse_int(env, "FAULTLINE_MAX_CONCURRENT_DECODES", minimum=1, maximum=64),
        max_inflight_body_bytes=max_inflight,
        worker_batch_size=_parse_int(env, "FAULTLINE_WORKER_BATCH_SIZE", minimum=1, maximum=10_000),
        worker_batch_bytes=_parse_int(env, "FAULTLINE_WORKER_BATCH_BYTES", minimum=64 * 1024),
        queue_max_events=_parse_int(env, "FAULTLINE_QUEUE_MAX_EVENTS", minimum=1),
        queue_max_bytes=queue_max_bytes,
        queue_dead_consumer_seconds=_parse_int(env, "FAULTLINE_QUEUE_DEAD_CONSUMER_SECONDS", minimum=1),
        s3_endpoint_url=env.get("FAULTLINE_S3_ENDPOINT_URL", "").strip() or None,
        s3_region=env.get("FAULTLINE_S3_REGION", "").strip() or "us-east-1",
        s3_access_key_id=env.get("FAULTLINE_S3_ACCESS_KEY_ID", "").strip() or None,
        s3_secret_access_key=env.get("FAULTLINE_S3_SECRET_ACCESS_KEY", "").strip() or None,
        symbol_repair_days=_parse_int(env, "FAULTLINE_SYMBOL_REPAIR_DAYS", minimum=0, maximum=3650),
        sourcemap_fetch=_parse_bool(env, "FAULTLINE_SOURCEMAP_FETCH"),
        sourcemap_allow_internal_ips=_parse_bool(env, "FAULTLINE_SOURCEMAP_ALLOW_INTERNAL_IPS"),
        sourcemap_max_bytes=_parse_int(env, "FAULTLINE_SOURCEMAP_MAX_BYTES", minimum=1024),
        sourcemap_timeout=_parse_seconds(env, "FAULTLINE_SOURCEMAP_TIMEOUT", minimum=0.1, maximum=600),
        sourcemap_deadline=_parse_seconds(env, "FAULTLINE_SOURCEMAP_DEADLINE", minimum=0.1, maximum=600),
        sourcemap_batch_budget=_parse_seconds(env, "FAULTLINE_SOURCEMAP_BATCH_BUDGET", minimum=0.1, maximum=3600),
        sourcemap_negative_ttl=_parse_seconds(env, "FAULTLINE_SOURCEMAP_NEGATIVE_TTL", minimum=0, maximum=86400),
        symbol_set_max_bytes=_parse_int(env, "FAULTLINE_SYMBOL_SET_MAX_BYTES", minimum=1024),
        symbol_cache_mb=_parse_int(env, "FAULTLINE_SYMBOL_CACHE_MB", minimum=1),
        sentry_chunk_bytes=_parse_int(env, "FAULTLINE_SENTRY_CHUNK_BYTES", minimum=1024, maximum=256 * MIB),
        sentry_chunks_per_request=_parse_int(env, "FAULTLINE_SENTRY_CHUNKS_PER_REQUEST", minimum=1, maximum=1024),
        sentry_chunk_request_bytes=_parse_int(env, "FAULTLINE_SENTRY_CHUNK_REQUEST_BYTES", minimum=1024),
        sentry_pending_bytes=_parse_int(env, "FAULTLINE_SENTRY_PENDING_BYTES", minimum=1024),
        sentry_chunk_ttl=_parse_seconds(env, "FAULTLINE_SENTRY_CHUNK_TTL", minimum=0.1, maximum=7 * 86400),
        sentry_bundle_max_bytes=_parse_int(env, "FAULTLINE_SENTRY_BUNDLE_MAX_BYTES", minimum=1024),
        sentry_bundle_max_files=_parse_int(env, "FAULTLINE_SENTRY_BUNDLE_MAX_FILES", minimum=2, maximum=1_000_000),
        sentry_bundle_max_uncompressed_bytes=_parse_int(
            env, "FAULTLINE_SENTRY_BUNDLE_MAX_UNCOMPRESSED_BYTES", minimum=1024
        ),
        posthog_js_dir=Path(env.get("FAULTLINE_POSTHOG_JS_DIR", "").strip() or data_dir / "posthog-js")
        .expanduser()
        .resolve(),
        npm_registry=_npm_registry(env),
        max_header_bytes=_parse_int(env, "FAULTLINE_MAX_HEADER_BYTES", minimum=1024, maximum=16 * MIB),
        header_timeout=_parse_int(env, "FAULTLINE_HEADER_TIMEOUT", minimum=1, maximum=3600),
        body_timeout=_parse_int(env, "FAULTLINE_BODY_TIMEOUT", minimum=1, maximum=86400),
        body_min_rate=_parse_int(env, "FAULTLINE_BODY_MIN_RATE", minimum=0),
        max_connections=_parse_int(env, "FAULTLINE_MAX_CONNECTIONS", minimum=1, maximum=1_000_000),
        health_backlog_threshold=_parse_int(env, "FAULTLINE_HEALTH_BACKLOG_THRESHOLD", minimum=0),
        sentry_max_items=_parse_int(env, "FAULTLINE_SENTRY_MAX_ITEMS", minimum=1, maximum=100_000),
        sentry_max_header_bytes=_parse_int(env, "FAULTLINE_SENTRY_MAX_HEADER_BYTES", minimum=256, maximum=MIB),
        new_issues_per_hour=_parse_int(env, "FAULTLINE_NEW_ISSUES_PER_HOUR", minimum=0),
        retention_days=_parse_int(env, "FAULTLINE_RETENTION_DAYS", minimum=0, maximum=36500),
        storage_budget=_parse_int(env, "FAULTLINE_STORAGE_BUDGET", minimum=0),
        retention_interval=_parse_seconds(env, "FAULTLINE_RETENTION_INTERVAL", minimum=0.05, maximum=86400),
        retention_batch=_parse_int(env, "FAULTLINE_RETENTION_BATCH", minimum=1, maximum=100_000),
        symbol_set_max_age_days=_parse_int(env, "FAULTLINE_SYMBOL_SET_MAX_AGE_DAYS", minimum=0, maximum=36500),
        storage_warn_percent=_parse_int(env, "FAULTLINE_STORAGE_WARN_PERCENT", minimum=0, maximum=100),
        smtp_url=_smtp_url(env),
        smtp_from=env.get("FAULTLINE_SMTP_FROM", "").strip() or _env_default("FAULTLINE_SMTP_FROM"),
        alerts_per_project=_parse_int(env, "FAULTLINE_ALERTS_PER_PROJECT", minimum=1, maximum=100_000),
        alert_destinations_max=_parse_int(env, "FAULTLINE_ALERT_DESTINATIONS_MAX", minimum=1, maximum=1000),
        alert_url_max_length=_parse_int(env, "FAULTLINE_ALERT_URL_MAX_LENGTH", minimum=64, maximum=65536),
        alert_allow_internal_urls=_parse_bool(env, "FAULTLINE_ALERT_ALLOW_INTERNAL_URLS"),
        alert_timeout=_parse_seconds(env, "FAULTLINE_ALERT_TIMEOUT", minimum=0.1, maximum=600),
        alert_max_attempts=_parse_int(env, "FAULTLINE_ALERT_MAX_ATTEMPTS", minimum=1, maximum=100),
        alert_retry_seconds=_parse_seconds(env, "FAULTLINE_ALERT_RETRY_SECONDS", minimum=0, maximum=3600),
        alert_failing_after=_parse_int(env, "FAULTLINE_ALERT_FAILING_AFTER", minimum=1, maximum=1000),
        alert_poll_seconds=_parse_seconds(env, "FAULTLINE_ALERT_POLL_SECONDS", minimum=0.05, maximum=86400),
        rule_preview_events=_parse_int(env, "FAULTLINE_RULE_PREVIEW_EVENTS", minimum=1, maximum=1_000_000),
    )


def markdown_table() -> str:
    """The README configuration table, so docs and code cannot drift (a test compares them)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{v.name}` | {f'`{v.default}`' if v.default else '(empty)'} | {v.help} |" for v in ENV_VARS]
    return "\n".join(lines)
