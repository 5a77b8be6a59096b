"""Remote config served to SDKs: `/array/<token>/config(.js)`, `/decide/` and `/flags/` (spec §6.5).

These routes are public (the project token in the URL or body is the only credential, as in PostHog) and are hit
on every page load of every instrumented site, so the answer is cached per project in memory, already serialized.
The cache entry is valid while the project's config revision (bumped by every rule / control / settings write)
and its `autocapture_exceptions_opt_in` flag are unchanged — both are read in the single query that resolves the
token, so a change made through any endpoint, in any process, is visible on the next request. Responses carry an
ETag so browsers revalidate cheaply instead of caching a stale config.

The config disables everything Faultline does not ingest (click autocapture, recordings, heatmaps, surveys, feature
flags) so the SDK only sends pageviews and exceptions.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Query, Request, Response
from sqlalchemy.orm import Session

from faultline.accounts.models import Project
from faultline.autocapture import sdk_body
from faultline.autocapture.models import AutocaptureControls
from faultline.http import errors
from faultline.http.cors import cors_headers, preflight_response
from faultline.http.deps import READ_SESSION
from faultline.http.errors import APIError
from faultline.http.routing import Router
from faultline.ids import parse_ascii_int
from faultline.rules.client_rules import client_safe_rule
from faultline.rules.models import ConfigRevision, SuppressionRule

TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,100}")  # used with fullmatch
SUPPORTED_COMPRESSION = ["gzip", "gzip-js"]
MAX_CACHED_PROJECTS = 10_000

router = Router(tags=["SDK remote config"], slash_twins=True)  # every SDK start-up asks


@dataclass(frozen=True)
class ProjectKey:
    project_id: int
    revision: int
    opt_in: bool

    @property
    def etag(self) -> str:
        return f'"{self.project_id}-{self.revision}-{int(self.opt_in)}"'


@dataclass(frozen=True)
class CachedConfig:
    key: ProjectKey
    config: dict[str, Any]
    json_body: bytes
    js_body: bytes


def _controls_json(controls: AutocaptureControls) -> dict[str, Any]:
    return {
        "urlTriggers": list(controls.url_triggers or []),
        "urlBlocklist": list(controls.url_blocklist or []),
        "eventTriggers": list(controls.event_triggers or []),
        "linkedFeatureFlag": controls.linked_feature_flag,
        "sampleRate": float(Decimal(controls.sample_rate)),
        "matchType": controls.match_type,
    }


def build_config(session: Session, token: str, key: ProjectKey) -> dict[str, Any]:
    """The `config` object posthog-js reads (keys it does not know are ignored)."""
    rows = session.execute(
        sa.select(SuppressionRule.filters, SuppressionRule.sampling_rate, SuppressionRule.disabled_data)
        .where(SuppressionRule.project_id == key.project_id)
        .order_by(SuppressionRule.order_key, SuppressionRule.created_at, SuppressionRule.id)
    ).all()
    suppression = [r for r in (client_safe_rule(*row) for row in rows) if r is not None]
    controls = session.execute(
        sa.select(AutocaptureControls).where(AutocaptureControls.project_id == key.project_id)
    ).scalars()
    return {
        "token": token,
        "supportedCompression": SUPPORTED_COMPRESSION,
        "hasFeatureFlags": False,
        "autocapture_opt_out": True,
        "captureDeadClicks": False,
        "capturePerformance": False,
        "heatmaps": False,
        "surveys": False,
        "sessionRecording": False,
        "elementsChainAsString": True,
        "defaultIdentifiedOnly": True,
        "autocaptureExceptions": key.opt_in,
        "errorTracking": {
            "autocaptureExceptions": key.opt_in,
            "captureExtensionExceptions": False,
            "suppressionRules": suppression,
            "autoCaptureControls": {c.library: _controls_json(c) for c in controls},
        },
        "siteApps": [],
    }


def _js(token: str, config: dict[str, Any]) -> bytes:
    payload = orjson.dumps({"config": config, "siteApps": []})
    name = orjson.dumps(token)
    return (
        b"(function() {\n  window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};\n"
        b"  window._POSTHOG_REMOTE_CONFIG[" + name + b"] = " + payload + b";\n})();\n"
    )


class RemoteConfigCache:
    """token → serialized config, revalidated against the project row + revision on every lookup."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedConfig] = {}
        self._lock = threading.Lock()
        self.builds = 0

    @staticmethod
    def project_key(session: Session, token: str) -> ProjectKey | None:
        if not TOKEN.fullmatch(token):
            return None
        row = session.execute(
            sa.select(Project.id, Project.autocapture_exceptions_opt_in, ConfigRevision.revision)
            .outerjoin(ConfigRevision, ConfigRevision.project_id == Project.id)
            .where(Project.api_token == token)
        ).first()
        if row is None:
            return None
        return ProjectKey(project_id=row[0], revision=int(row[2] or 0), opt_in=bool(row[1]))

    def get(self, session: Session, token: str) -> CachedConfig | None:
        key = self.project_key(session, token)
        if key is None:
            return None
        with self._lock:
            entry = self._entries.get(token)
        if entry is not None and entry.key == key:
            return entry
        config = build_config(session, token, key)
        entry = CachedConfig(key=key, config=config, json_body=orjson.dumps(config), js_body=_js(token, config))
        with self._lock:
            if len(self._entries) >= MAX_CACHED_PROJECTS:
                self._entries.clear()
            self._entries[token] = entry
            self.builds += 1
        return entry


def install(app: FastAPI) -> None:
    app.state.remote_config = RemoteConfigCache()
    app.include_router(router)


def _cache(request: Request) -> RemoteConfigCache:
    return request.app.state.remote_config


def _preflight(request: Request) -> Response:
    return preflight_response(request, "GET, POST, OPTIONS")


def _error(request: Request, error: APIError) -> Response:
    response = errors.error_response(error)
    response.headers.update(cors_headers(request))
    return response


# ------------------------------------------------------------------------------------------------------ routes


def _config_response(request: Request, session: Session, token: str, *, js: bool) -> Response:
    entry = _cache(request).get(session, token)
    if entry is None:
        return _error(request, errors.not_found("Project not found for this token."))
    headers = {**cors_headers(request), "ETag": entry.key.etag, "Cache-Control": "public, no-cache"}
    if request.headers.get("if-none-match") == entry.key.etag:
        return Response(status_code=304, headers=headers)
    media = "application/javascript; charset=utf-8" if js else "application/json"
    return Response(entry.js_body if js else entry.json_body, media_type=media, headers=headers)


@router.get("/array/{token}/config", summary="Remote config for posthog-js (JSON)", response_model=dict[str, Any])
def remote_config_json(token: str, request: Request, session: Session = READ_SESSION) -> Response:
    return _config_response(request, session, token, js=False)


@router.get(
    "/array/{token}/config.js",
    summary="Remote config for posthog-js (script setting window._POSTHOG_REMOTE_CONFIG[token])",
    response_class=Response,
    responses={200: {"content": {"application/javascript": {}}}},
)
def remote_config_js(token: str, request: Request, session: Session = READ_SESSION) -> Response:
    return _config_response(request, session, token, js=True)


async def raw_body(request: Request) -> bytes:
    """Read the body on the event loop so the endpoints themselves can be sync (DB work off the loop)."""
    return await request.body()


def _sdk_token(request: Request, raw: bytes) -> tuple[str | None, Any]:
    body = sdk_body.decode(raw, request.headers.get("content-type"), request.query_params.get("compression"))
    token = None
    if isinstance(body, dict):
        token = body.get("token") or body.get("api_key") or body.get("$token")
    token = token or request.query_params.get("token") or request.query_params.get("api_key")
    return (token if isinstance(token, str) else None), body


def _resolve(request: Request, session: Session, token: str | None) -> CachedConfig | APIError:
    if not token:
        return APIError(
            401,
            type="authentication_error",
            code="missing_api_key",
            detail="API key not provided. You can find your project API key in PostHog project settings.",
        )
    entry = _cache(request).get(session, token)
    if entry is None:
        return APIError(
            401,
            type="authentication_error",
            code="invalid_api_key",
            detail="Project API key invalid. You can find your project API key in PostHog project settings.",
        )
    return entry


def _version(request: Request) -> int:
    raw = request.query_params.get("v", "")
    return parse_ascii_int(raw, max_digits=3) or 1


def _entry(request: Request, raw: bytes, session: Session) -> CachedConfig | Response:
    """The project's config for a `/flags/` or `/decide/` body, or the error response to send instead."""
    try:
        token, _body = _sdk_token(request, raw)
    except APIError as exc:
        return _error(request, exc)
    entry = _resolve(request, session, token)
    return _error(request, entry) if isinstance(entry, APIError) else entry


def _flags(request: Request, raw: bytes, session: Session) -> Response:
    entry = _entry(request, raw, session)
    if isinstance(entry, Response):
        return entry
    answer: dict[str, Any]
    if _version(request) >= 2:
        answer = {"flags": {}, "errorsWhileComputingFlags": False, "requestId": str(uuid.uuid4())}
    else:
        answer = {"featureFlags": {}, "featureFlagPayloads": {}, "errorsWhileComputingFlags": False}
    if request.query_params.get("config") in ("true", "1"):
        answer = {**entry.config, **answer}
    return Response(orjson.dumps(answer), media_type="application/json", headers=cors_headers(request))


def _decide(request: Request, raw: bytes, session: Session) -> Response:
    entry = _entry(request, raw, session)
    if isinstance(entry, Response):
        return entry
    answer: dict[str, Any] = {
        **entry.config,
        "config": {"enable_collect_everything": True},
        "toolbarParams": {},
        "isAuthenticated": False,
        "errorsWhileComputingFlags": False,
        # Old SDKs read the capture endpoint from the legacy object form.
        "autocaptureExceptions": {"endpoint": "/e/"} if entry.key.opt_in else False,
    }
    if _version(request) >= 4:
        answer["flags"] = {}
    else:
        answer["featureFlags"] = {}
        answer["featureFlagPayloads"] = {}
    return Response(orjson.dumps(answer), media_type="application/json", headers=cors_headers(request))


# Declared for the OpenAPI schema (and so for the fuzzer); the handlers read them from the query string, as the
# schema-less GET /decide/ does.
VERSION_PARAM = Query(None, alias="v", description="Answer format the SDK understands (1–4; anything else is 1).")
CONFIG_PARAM = Query(None, alias="config", description="`true` or `1` adds the remote config to the answer.")


@router.post("/flags/", summary="Feature flags (none) for SDKs; `?config=true` adds the remote config")
def flags(
    request: Request,
    raw: bytes = Depends(raw_body),
    session: Session = READ_SESSION,
    _v: str | None = VERSION_PARAM,
    _config: str | None = CONFIG_PARAM,
) -> Response:
    return _flags(request, raw, session)


@router.post("/decide/", summary="Legacy SDK bootstrap (`?v=3|4`): remote config and an empty flag set")
def decide(
    request: Request, raw: bytes = Depends(raw_body), session: Session = READ_SESSION, _v: str | None = VERSION_PARAM
) -> Response:
    return _decide(request, raw, session)


@router.get("/decide/", include_in_schema=False)
def decide_get(request: Request, session: Session = READ_SESSION) -> Response:
    return _decide(request, b"", session)


for _path in ("/flags/", "/decide/", "/array/{token}/config", "/array/{token}/config.js"):
    router.add_api_route(_path, _preflight, methods=["OPTIONS"], include_in_schema=False)
