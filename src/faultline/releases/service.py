"""Releases: create/update/delete with PostHog's rules (spec §2.5), shared by the REST API, the CLI flow and the UI.

Release metadata comes from build machines (`posthog-cli` puts `{"git": {"remote_url": …}}` there), and CI remotes
routinely embed tokens (`https://x-access-token:ghp_…@github.com/…`). Those are stripped before anything is stored,
so a token never reaches the database, the API or the UI.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from faultline.ids import uuid7
from faultline.issues.sanitize import clean_json, clean_text, is_storable, json_depth
from faultline.releases.models import Release

MAX_HASH_ID_LENGTH = 128
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32
# Transports whose login name is addressing (`ssh://git@host/…`), not a secret; any password is still dropped.
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
_USERINFO = re.compile(r"//[^/?#]*@")


class ReleaseError(ValueError):
    """A request that cannot be satisfied; the message is user-facing."""


class HashInUse(ReleaseError):
    def __init__(self, hash_id: str) -> None:
        super().__init__(f"Hash id {hash_id} already in use")


def sanitize_remote_url(url: str) -> str:
    """A git remote without credentials, query or fragment.

    * scheme URLs: userinfo removed (ssh keeps a bare login name), `?…` and `#…` dropped;
    * scp-like `user@host:path`: kept, except a `user:password@` whose password is dropped.
    """
    text = url.strip()
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            return _USERINFO.sub("//", text.split("?", 1)[0].split("#", 1)[0])
        userinfo, _, host = parts.netloc.rpartition("@")
        login = userinfo.split(":", 1)[0]
        if parts.scheme.lower() in _SSH_SCHEMES and login:
            host = f"{login}@{host}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    userinfo, at, rest = text.rpartition("@")
    if at and ":" in userinfo and "/" not in userinfo:
        return f"{userinfo.split(':', 1)[0]}@{rest}"
    return text


def clean_metadata(metadata: Any) -> Any:
    """Storable metadata with `git.remote_url` sanitised; raises ReleaseError when too large or too deep."""
    if metadata is None:
        return None
    if json_depth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        raise ReleaseError(f"Metadata cannot be nested more than {MAX_METADATA_DEPTH} levels deep.")
    metadata = clean_json(metadata)
    if len(orjson.dumps(metadata)) > MAX_METADATA_BYTES:
        raise ReleaseError(f"Metadata cannot exceed {MAX_METADATA_BYTES} bytes.")
    git = metadata.get("git") if isinstance(metadata, dict) else None
    if isinstance(git, dict) and isinstance(git.get("remote_url"), str):
        metadata = {**metadata, "git": {**git, "remote_url": sanitize_remote_url(git["remote_url"])}}
    return metadata


def validated_hash_id(raw: Any) -> str | None:
    """PostHog's rule: falsy means "use the release id"; longer than 128 characters is refused."""
    if raw is None or raw == "" or raw is False or raw == 0:
        return None
    hash_id = clean_text(str(raw))
    if len(hash_id) > MAX_HASH_ID_LENGTH:
        raise ReleaseError("Hash id length cannot exceed 128 bytes")
    return hash_id


def serialize(release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "hash_id": release.hash_id,
        "team_id": release.project_id,
        "created_at": release.created_at,
        "metadata": release.metadata_,
        "version": release.version,
        "project": release.project_name,
    }


def list_stmt(project_id: int) -> sa.Select[tuple[Release]]:
    return sa.select(Release).where(Release.project_id == project_id).order_by(Release.created_at.desc(), Release.id)


def get(session: Session, project_id: int, release_id: uuid.UUID) -> Release | None:
    return session.execute(
        sa.select(Release).where(Release.project_id == project_id, Release.id == release_id)
    ).scalar_one_or_none()


def get_by_hash(session: Session, project_id: int, hash_id: str) -> Release | None:
    if not is_storable(hash_id) or len(hash_id) > MAX_HASH_ID_LENGTH:
        return None
    return session.execute(
        sa.select(Release).where(Release.project_id == project_id, Release.hash_id == hash_id)
    ).scalar_one_or_none()


def _hash_taken(session: Session, project_id: int, hash_id: str) -> bool:
    return (
        session.execute(
            sa.select(Release.id).where(Release.project_id == project_id, Release.hash_id == hash_id)
        ).first()
        is not None
    )


def _flush_unique(session: Session, hash_id: str) -> None:
    """Flush in a savepoint so a concurrent insert of the same hash becomes HashInUse, not a 500."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise HashInUse(hash_id) from None


def create(
    session: Session,
    project_id: int,
    *,
    version: str,
    project: str,
    hash_id: str | None = None,
    metadata: Any = None,
) -> Release:
    release_id = uuid7()
    resolved = hash_id or str(release_id)
    if _hash_taken(session, project_id, resolved):
        raise HashInUse(resolved)
    release = Release(
        id=release_id,
        project_id=project_id,
        hash_id=resolved,
        version=clean_text(version),
        project_name=clean_text(project),
        metadata_=clean_metadata(metadata),
    )
    session.add(release)
    _flush_unique(session, resolved)
    return release


def update(
    session: Session,
    project_id: int,
    release_id: uuid.UUID,
    *,
    metadata: Any = None,
    hash_id: str | None = None,
    version: str | None = None,
    project: str | None = None,
) -> Release | None:
    """Only truthy values overwrite (PostHog's rule); a new hash_id must be free."""
    release = get(session, project_id, release_id)
    if release is None:
        return None
    if metadata:
        release.metadata_ = clean_metadata(metadata)
    if version:
        release.version = clean_text(version)
    if project:
        release.project_name = clean_text(project)
    if hash_id and hash_id != release.hash_id:
        if _hash_taken(session, project_id, hash_id):
            raise HashInUse(hash_id)
        release.hash_id = hash_id
    _flush_unique(session, release.hash_id)
    return release


def delete(session: Session, project_id: int, release_id: uuid.UUID) -> bool:
    """Deletes the release; its symbol sets go with it (foreign key cascade, as in PostHog)."""
    result = session.execute(sa.delete(Release).where(Release.project_id == project_id, Release.id == release_id))
    return bool(result.rowcount)
