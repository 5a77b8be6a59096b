"""What every destination shares: the message, where it goes, how one send went, and the guarded HTTP POST."""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

MAX_ERROR = 500  # characters of a receiver's answer kept in the delivery log

TRIGGER_LABELS = {
    "issue_created": "New issue",
    "issue_reopened": "Issue reopened",
    "issue_spiking": "Issue is spiking",
    "issue_assigned": "Issue assigned",
    "event_threshold": "Event threshold crossed",
    "test": "Test notification",
}


@dataclass(frozen=True)
class Message:
    """One notification, channel-neutral; built once at fan-out and stored with the delivery (its `payload`)."""

    trigger: str
    issue_id: str | None
    title: str
    description: str | None
    link: str
    project: str
    frame: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    release: str | None = None
    environment: str | None = None
    alert: str = ""
    timestamp: str = ""

    @property
    def headline(self) -> str:
        return f"{TRIGGER_LABELS.get(self.trigger, self.trigger)}: {self.title}"

    def count_lines(self) -> list[str]:
        return [f"{key.replace('_', ' ')}: {value}" for key, value in self.counts.items()]

    def as_json(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "issue_id": self.issue_id,
            "title": self.title,
            "description": self.description,
            "link": self.link,
            "project": self.project,
            "frame": self.frame,
            "counts": dict(self.counts),
            "release": self.release,
            "environment": self.environment,
            "alert": self.alert,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        return cls(
            trigger=str(data.get("trigger") or ""),
            issue_id=data.get("issue_id"),
            title=str(data.get("title") or "Untitled issue"),
            description=data.get("description"),
            link=str(data.get("link") or ""),
            project=str(data.get("project") or ""),
            frame=data.get("frame"),
            counts=dict(data.get("counts") or {}),
            release=data.get("release"),
            environment=data.get("environment"),
            alert=str(data.get("alert") or ""),
            timestamp=str(data.get("timestamp") or ""),
        )


@dataclass(frozen=True)
class Target:
    """A destination as the sender needs it, with the process's sending policy."""

    channel_type: str
    config: dict[str, Any]
    secret: str | None = None
    timeout: float = 10.0
    allow_internal: bool = False
    smtp_url: str | None = None
    smtp_from: str = "faultline@localhost"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    http_status: int | None = None
    error: str | None = None
    duration_ms: int = 0
    retry: bool = True  # False: retrying cannot help (blocked URL, no SMTP configured)


def address_allowed(host: str, port: int) -> str | None:
    """None if every address of `host` is public, else why not (private, loopback, link-local…)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            return (
                f"{host} resolves to a private, loopback or link-local address ({address}); "
                "set FAULTLINE_ALERT_ALLOW_INTERNAL_URLS=true to allow it"
            )
    return None


def send_json(target: Target, body: dict[str, Any], headers: dict[str, str], *, raw: bytes | None = None) -> SendResult:
    """POST `body` (or the exact bytes `raw`) as JSON; any 2xx is success."""
    url = str(target.config.get("url") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return SendResult(ok=False, error="destination URL must be http(s)", retry=False)
    if not target.allow_internal:
        problem = address_allowed(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        if problem is not None:
            return SendResult(ok=False, error=problem, retry=False)
    content = raw if raw is not None else orjson.dumps(body)
    started = time.monotonic()
    try:
        response = httpx.post(
            url,
            content=content,
            headers={"Content-Type": "application/json", "User-Agent": "Faultline-Alerts/1", **headers},
            timeout=target.timeout,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR], duration_ms=elapsed)
    elapsed = int((time.monotonic() - started) * 1000)
    if 200 <= response.status_code < 300:
        return SendResult(ok=True, http_status=response.status_code, duration_ms=elapsed)
    text = response.text[:MAX_ERROR] if response.content else ""
    return SendResult(
        ok=False,
        http_status=response.status_code,
        error=f"HTTP {response.status_code}{': ' + text if text else ''}",
        duration_ms=elapsed,
    )
