"""Releases addressed by version string, as Sentry does (`sentry-cli releases new 1.2.3`, an event's `release`).

PostHog addresses a release by id or by a client-chosen `hash_id`; Sentry only knows the version. A Faultline release
is per project, so one Sentry release (an organization-wide version with a list of projects) is one row in each of
its projects, found by `(project, version)`; when several rows share a version (posthog-cli and sentry-cli both
created one) the oldest is the one Sentry clients see. What Sentry keeps beside the version (dates, URL, commits,
deploys) lives under `metadata.sentry`, and commits also fill PostHog's `metadata.git.commit_id` / `repo_name`, so
symbol-set search by commit finds them.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from faultline.issues.sanitize import clean_text
from faultline.releases import service
from faultline.releases.models import Release

MAX_VERSION_LENGTH = 200  # Sentry's limit


def ensure(session: Session, project_id: int, version: str, project_name: str) -> tuple[Release, bool]:
    """The project's release of `version`, created when missing; True when it was created."""
    if not version or len(version) > MAX_VERSION_LENGTH or "\n" in version or "/" in version:
        raise service.ReleaseError(
            f"Invalid release version {version[:MAX_VERSION_LENGTH]!r}: 1 to {MAX_VERSION_LENGTH} characters, "
            "no slash or newline."
        )
    return service.find_or_create_version(session, project_id, version, project_name)


def sentry_metadata(release: Release) -> dict[str, Any]:
    metadata = release.metadata_ if isinstance(release.metadata_, dict) else {}
    value = metadata.get("sentry")
    return dict(value) if isinstance(value, dict) else {}


def update_sentry_metadata(release: Release, changes: dict[str, Any], git: dict[str, Any] | None = None) -> None:
    """Merge `changes` into `metadata.sentry` (and `git` into `metadata.git`), through the same cleaning and size
    limits as PostHog metadata."""
    metadata = dict(release.metadata_) if isinstance(release.metadata_, dict) else {}
    metadata["sentry"] = {**sentry_metadata(release), **changes}
    if git:
        current = metadata.get("git")
        metadata["git"] = {**(current if isinstance(current, dict) else {}), **git}
    release.metadata_ = service.clean_metadata(metadata)


def releases_of(session: Session, project_ids: list[int], version: str) -> list[Release]:
    """The rows of one Sentry release: the oldest row of `version` in each of the projects."""
    rows = session.scalars(
        sa.select(Release)
        .where(Release.project_id.in_(project_ids), Release.version == clean_text(version))
        .order_by(Release.created_at, Release.id)
    ).all()
    first: dict[int, Release] = {}
    for row in rows:
        first.setdefault(row.project_id, row)
    return [first[pid] for pid in sorted(first)]


def ids(releases: list[Release]) -> list[uuid.UUID]:
    return [release.id for release in releases]
