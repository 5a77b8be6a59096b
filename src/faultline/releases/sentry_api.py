"""Sentry's release API as sentry-cli (`releases new|finalize|set-commits|list|info|delete`, `deploys new|list`) and
the Sentry bundler plugins call it, over Faultline releases.

A Sentry release is one version across several projects of an organization; here it is one Faultline release row per
project (`faultline.releases.versions`), so the PostHog API, symbol sets and the UI see the same releases. Dates, URL,
commits and deploys are kept under `metadata.sentry` with fixed caps (commits and deploys are lists that CI grows),
commits also fill PostHog's `metadata.git`. Repositories (`GET …/repos/`) are the ones releases of the organization
have recorded commits for, so `set-commits --commit repo@sha` works once `--local` (or an earlier `--commit`
through the bundler plugins) has named the repository; `--local` needs nothing.

Scopes: `error_tracking:read` to read, `error_tracking:write` to change, like the PostHog release endpoints.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from faultline.accounts import slugs
from faultline.accounts.access import Principal, require_scope
from faultline.accounts.models import Organization, Project
from faultline.http import errors
from faultline.http.deps import READ_SESSION, WRITE_SESSION
from faultline.http.routing import Router
from faultline.ids import uuid7
from faultline.releases import service, versions
from faultline.releases.models import Release

router = Router(tags=["sentry-cli"])
BASE = "/api/0/organizations/{org}/releases"
READ = require_scope("error_tracking:read")
WRITE = require_scope("error_tracking:write")
MAX_COMMITS = 50
MAX_DEPLOYS = 20
TEXT_MAX = 200
LIST_MAX = 100


class SentryRefIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    repository: str = Field(max_length=TEXT_MAX)
    commit: str = Field(max_length=TEXT_MAX)
    previousCommit: str | None = Field(None, max_length=TEXT_MAX)


class SentryCommitIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(max_length=TEXT_MAX)
    repository: str | None = Field(None, max_length=TEXT_MAX)
    message: str | None = None
    author_name: str | None = None
    author_email: str | None = None
    timestamp: str | None = Field(None, max_length=64)


class SentryReleaseIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    version: str | None = Field(None, max_length=versions.MAX_VERSION_LENGTH)
    projects: list[str | int] | None = Field(None, max_length=LIST_MAX)
    url: str | None = Field(None, max_length=2000)
    ref: str | None = Field(None, max_length=TEXT_MAX)
    dateStarted: str | None = Field(None, max_length=64)
    dateReleased: str | None = Field(None, max_length=64)
    refs: list[SentryRefIn] | None = Field(None, max_length=LIST_MAX)
    commits: list[SentryCommitIn] | None = Field(None, max_length=10_000)
    status: str | None = Field(None, max_length=20)


class SentryDeployIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    environment: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, max_length=TEXT_MAX)
    url: str | None = Field(None, max_length=2000)
    dateStarted: str | None = Field(None, max_length=64)
    dateFinished: str | None = Field(None, max_length=64)
    projects: list[str | int] | None = Field(None, max_length=LIST_MAX)


def _date(value: str | None, attr: str) -> str | None:
    """ISO 8601 in, normalised UTC ISO 8601 out (what sentry-cli sends and reads back)."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise errors.validation_error("Enter a valid ISO 8601 date and time.", attr) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _created(release: Release) -> str:
    created = release.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return created.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def release_json(rows: list[Release], projects: dict[int, Project]) -> dict[str, Any]:
    """Sentry's release shape for the rows of one version (the oldest row speaks for dates and commits)."""
    first = rows[0]
    meta = versions.sentry_metadata(first)
    commits = meta.get("commits") or []
    deploys = meta.get("deploys") or []
    return {
        "version": first.version,
        "shortVersion": first.version,
        "ref": meta.get("ref"),
        "url": meta.get("url"),
        "status": meta.get("status", "open"),
        "dateCreated": _created(first),
        "dateStarted": meta.get("dateStarted"),
        "dateReleased": meta.get("dateReleased"),
        "lastEvent": None,
        "firstEvent": None,
        "newGroups": 0,
        "commitCount": len(commits),
        "lastCommit": {"id": commits[0]["id"], "repository": commits[0].get("repository")} if commits else None,
        "deployCount": len(deploys),
        "lastDeploy": deploys[-1] if deploys else None,
        "authors": [],
        "data": {},
        "projects": [
            {
                "id": row.project_id,
                "slug": slugs.slugify(projects[row.project_id].name),
                "name": projects[row.project_id].name,
            }
            for row in rows
            if row.project_id in projects
        ],
    }


def _org_projects(session: Session, principal: Principal, org: str) -> tuple[Organization, dict[int, Project]]:
    organization = slugs.resolve_organization(session, principal, org)
    return organization, {p.id: p for p in slugs.organization_projects(session, principal, organization)}


def _named_projects(
    session: Session, principal: Principal, organization: Organization, names: list[str | int]
) -> list[Project]:
    found: dict[int, Project] = {}
    for name in names:
        project = slugs.resolve_project(session, principal, organization, str(name))
        found[project.id] = project
    return list(found.values())


def _rows(session: Session, projects: dict[int, Project], version: str) -> list[Release]:
    rows = versions.releases_of(session, list(projects), version)
    if not rows:
        raise errors.not_found(f"Release {version[:100]!r} not found.")
    return rows


def _commit_changes(body: SentryReleaseIn) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`metadata.sentry` changes and `metadata.git` changes from refs / commits, capped."""
    changes: dict[str, Any] = {}
    git: dict[str, Any] | None = None
    if body.refs is not None:
        refs = [ref.model_dump() for ref in body.refs[:MAX_COMMITS]]
        changes["refs"] = refs
        changes["commits"] = [{"id": ref["commit"], "repository": ref["repository"]} for ref in refs]
        if refs:
            git = {"commit_id": refs[0]["commit"], "repo_name": refs[0]["repository"]}
    if body.commits is not None:
        commits = [
            {
                "id": commit.id,
                "repository": commit.repository,
                "message": (commit.message or "")[:TEXT_MAX],
                "author_name": (commit.author_name or "")[:TEXT_MAX],
                "author_email": (commit.author_email or "")[:TEXT_MAX],
                "timestamp": commit.timestamp,
            }
            for commit in body.commits[:MAX_COMMITS]
        ]
        changes["commits"] = commits
        if commits:
            git = {"commit_id": commits[0]["id"]}
            if commits[0]["repository"]:
                git["repo_name"] = commits[0]["repository"]
    return changes, git


def _apply(release: Release, body: SentryReleaseIn) -> None:
    changes, git = _commit_changes(body)
    if body.url is not None:
        changes["url"] = body.url
    if body.ref is not None:
        changes["ref"] = body.ref
    if body.dateStarted is not None:
        changes["dateStarted"] = _date(body.dateStarted, "dateStarted")
    if body.dateReleased is not None:
        changes["dateReleased"] = _date(body.dateReleased, "dateReleased")
    if body.status is not None:
        if body.status not in ("open", "archived"):
            raise errors.validation_error('status is "open" or "archived".', "status")
        changes["status"] = body.status
    if changes or git:
        versions.update_sentry_metadata(release, changes, git)


@router.post(f"{BASE}/", summary="sentry-cli: create a release (or update it when it exists)")
def create_release(
    org: str,
    body: SentryReleaseIn,
    response: Response,
    principal: Principal = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    if not body.version:
        raise errors.required("version")
    organization, allowed = _org_projects(session, principal, org)
    if not body.projects:
        raise errors.validation_error("Name at least one project (SENTRY_PROJECT / --project).", "projects")
    projects = _named_projects(session, principal, organization, body.projects)
    created_any = False
    for project in projects:
        release, created = versions.ensure(session, project.id, body.version, project.name)
        created_any = created_any or created
        _apply(release, body)
    session.flush()
    response.status_code = 201 if created_any else 208
    return release_json(_rows(session, allowed, body.version), allowed)


@router.get(f"{BASE}/", summary="sentry-cli: releases of the organization, newest first")
def list_releases(
    org: str, principal: Principal = Depends(READ), session: Session = READ_SESSION
) -> list[dict[str, Any]]:
    _, allowed = _org_projects(session, principal, org)
    return _release_list(session, allowed, allowed)


@router.get("/api/0/projects/{org}/{project}/releases/", summary="sentry-cli: releases of one project")
def list_project_releases(
    org: str, project: str, principal: Principal = Depends(READ), session: Session = READ_SESSION
) -> list[dict[str, Any]]:
    organization, allowed = _org_projects(session, principal, org)
    chosen = slugs.resolve_project(session, principal, organization, project)
    return _release_list(session, {chosen.id: chosen}, allowed)


def _release_list(session: Session, scope: dict[int, Project], allowed: dict[int, Project]) -> list[dict[str, Any]]:
    newest = session.scalars(
        sa.select(Release.version)
        .where(Release.project_id.in_(list(scope)))
        .group_by(Release.version)
        .order_by(sa.func.max(Release.created_at).desc())
        .limit(LIST_MAX)
    ).all()
    return [release_json(_rows(session, allowed, version), allowed) for version in newest]


@router.get(f"{BASE}/{{version}}/", summary="sentry-cli: one release")
def get_release(
    org: str, version: str, principal: Principal = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    _, allowed = _org_projects(session, principal, org)
    return release_json(_rows(session, allowed, version), allowed)


@router.put(f"{BASE}/{{version}}/", summary="sentry-cli: finalize, set commits, set URL")
def update_release(
    org: str,
    version: str,
    body: SentryReleaseIn,
    principal: Principal = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    organization, allowed = _org_projects(session, principal, org)
    rows = _rows(session, allowed, version)
    if body.projects:  # finalize names its projects: the release joins any it is not in yet
        for project in _named_projects(session, principal, organization, body.projects):
            if all(row.project_id != project.id for row in rows):
                rows.append(versions.ensure(session, project.id, version, project.name)[0])
    for row in rows:
        _apply(row, body)
    session.flush()
    return release_json(_rows(session, allowed, version), allowed)


@router.delete(f"{BASE}/{{version}}/", status_code=204, summary="sentry-cli: delete a release")
def delete_release(
    org: str, version: str, principal: Principal = Depends(WRITE), session: Session = WRITE_SESSION
) -> Response:
    _, allowed = _org_projects(session, principal, org)
    for row in _rows(session, allowed, version):
        service.delete(session, row.project_id, row.id)
    return Response(status_code=204)


@router.get(f"{BASE}/{{version}}/commits/", summary="sentry-cli: a release's commits")
def release_commits(
    org: str, version: str, principal: Principal = Depends(READ), session: Session = READ_SESSION
) -> list[dict[str, Any]]:
    _, allowed = _org_projects(session, principal, org)
    commits = versions.sentry_metadata(_rows(session, allowed, version)[0]).get("commits") or []
    return [{"id": c["id"], "repository": c.get("repository"), "message": c.get("message")} for c in commits]


@router.get(f"{BASE}/{{version}}/previous-with-commits/", summary="sentry-cli: the last earlier release with commits")
def previous_with_commits(
    org: str, version: str, principal: Principal = Depends(READ), session: Session = READ_SESSION
) -> dict[str, Any]:
    _, allowed = _org_projects(session, principal, org)
    current = _rows(session, allowed, version)[0]
    for item in _release_list(session, allowed, allowed):
        if item["version"] != version and item["lastCommit"] and item["dateCreated"] <= _created(current):
            return item
    return {}


@router.post(f"{BASE}/{{version}}/deploys/", status_code=201, summary="sentry-cli: record a deploy")
def create_deploy(
    org: str,
    version: str,
    body: SentryDeployIn,
    principal: Principal = Depends(WRITE),
    session: Session = WRITE_SESSION,
) -> dict[str, Any]:
    organization, allowed = _org_projects(session, principal, org)
    rows = _rows(session, allowed, version)
    if body.projects:
        wanted = {p.id for p in _named_projects(session, principal, organization, body.projects)}
        rows = [row for row in rows if row.project_id in wanted]
        if not rows:
            raise errors.validation_error("The release is not in any of those projects.", "projects")
    deploy = {
        "id": str(uuid7()),
        "environment": body.environment,
        "name": body.name,
        "url": body.url,
        "dateStarted": _date(body.dateStarted, "dateStarted"),
        "dateFinished": _date(body.dateFinished, "dateFinished") or _now(),
    }
    for row in rows:
        deploys = [*(versions.sentry_metadata(row).get("deploys") or []), deploy][-MAX_DEPLOYS:]
        versions.update_sentry_metadata(row, {"deploys": deploys})
    session.flush()
    return deploy


@router.get(f"{BASE}/{{version}}/deploys/", summary="sentry-cli: a release's deploys")
def list_deploys(
    org: str, version: str, principal: Principal = Depends(READ), session: Session = READ_SESSION
) -> list[dict[str, Any]]:
    _, allowed = _org_projects(session, principal, org)
    return list(reversed(versions.sentry_metadata(_rows(session, allowed, version)[0]).get("deploys") or []))


@router.get("/api/0/organizations/{org}/repos/", summary="sentry-cli: repositories releases have commits from")
def list_repos(org: str, principal: Principal = Depends(READ), session: Session = READ_SESSION) -> list[dict[str, Any]]:
    _, allowed = _org_projects(session, principal, org)
    names: dict[str, None] = {}
    rows = session.scalars(
        sa.select(Release).where(Release.project_id.in_(list(allowed))).order_by(Release.created_at.desc()).limit(500)
    )
    for row in rows:
        for commit in versions.sentry_metadata(row).get("commits") or []:
            if isinstance(commit, dict) and commit.get("repository"):
                names.setdefault(str(commit["repository"]), None)
        git = row.metadata_.get("git") if isinstance(row.metadata_, dict) else None
        if isinstance(git, dict) and isinstance(git.get("repo_name"), str) and git["repo_name"]:
            names.setdefault(git["repo_name"], None)
    return [
        {
            "id": name,
            "name": name,
            "url": None,
            "provider": {"id": "faultline", "name": "Recorded by releases"},
            "status": "active",
            "dateCreated": _now(),
        }
        for name in list(names)[:LIST_MAX]
    ]
