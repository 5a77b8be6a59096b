"""Releases: create/update/delete with PostHog's rules (spec §2.5), shared by the REST API, the CLI flow and the UI.

Release metadata comes from build machines (`posthog-cli` puts `{"git": {"remote_url": …}}` there), and CI remotes
routinely embed tokens (`https://x-access-token:ghp_…@github.com/…`). Those are stripped before anything is stored,
so a token never reaches the database, the API or the UI.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from faultline.errors import Conflict, ValidationFailed
from faultline.ids import uuid7
from faultline.issues.sanitize import clean_json, clean_text, is_storable, json_depth
from faultline.releases.models import Release

MAX_HASH_ID_LENGTH = 128
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32
# Transports whose login name is addressing (`ssh://git@host/…`), not a secret; any password is still dropped.
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")


class ReleaseError(ValidationFailed, ValueError):
    """A request that cannot be satisfied; the message is user-facing."""


class HashInUse(Conflict, ReleaseError):
    def __init__(self, hash_id: str) -> None:
        super().__init__(f"Hash id {hash_id} already in use")


def sanitize_remote_url(url: str) -> str:
    """A git remote without credentials, query or fragment, whatever form it is written in.

    * `scheme://user:password@host/path` and scheme-relative `//user@host/path`: the user-info goes (ssh keeps a bare
      login name, which is addressing, not a secret);
    * scp-like `user:password@host:path` (what git reads when a `:` comes before the first `/`): the password goes,
      the login stays (`git@github.com:acme/web.git` is kept as is);
    * scheme-less `token@host/path`: the user-info goes;
    * every form loses its `?query` and `#fragment` (`access_token=`, `private_token=`, signed-URL parameters…): git
      remotes carry nothing else there.

    User-info is everything before the last `@` of the authority, and the authority runs to the first `/` (not to a
    `?` or `#`), so a password containing those characters is removed too.
    """
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    keep_login: bool | None
    if sep and _SCHEME.fullmatch(scheme):
        prefix, keep_login = f"{scheme}://", scheme.lower() in _SSH_SCHEMES
    elif text.startswith("//"):
        prefix, rest, keep_login = "//", text[2:], False
    else:
        prefix, rest, keep_login = "", text, None
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if keep_login is None:  # scheme-less: scp-like `host:path` keeps its login like ssh://
        keep_login = ":" in host
    login = userinfo.split(":", 1)[0] if at and keep_login else ""
    cleaned = prefix + (f"{login}@{host}" if login else host) + slash + path
    return re.split(r"[?#]", cleaned, maxsplit=1)[0]


def clean_metadata(metadata: Any) -> Any:
    """Storable metadata with `git.remote_url` (and any other `git.…url`) sanitised; raises ReleaseError when too
    large or too deep."""
    if metadata is None:
        return None
    if json_depth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        raise ReleaseError(f"Metadata cannot be nested more than {MAX_METADATA_DEPTH} levels deep.")
    metadata = clean_json(metadata)
    if len(orjson.dumps(metadata)) > MAX_METADATA_BYTES:
        raise ReleaseError(f"Metadata cannot exceed {MAX_METADATA_BYTES} bytes.")
    git = metadata.get("git") if isinstance(metadata, dict) else None
    if isinstance(git, dict):
        # `remote_url` is what posthog-cli sends; any other `…url` field there gets the same treatment.
        urls = {k: sanitize_remote_url(v) for k, v in git.items() if k.lower().endswith("url") and isinstance(v, str)}
        if urls:
            metadata = {**metadata, "git": {**git, **urls}}
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


def sentry_hash_id(version: str) -> str:
    """The hash id of a release named only by a version (Sentry SDKs' `release`, sentry-cli `releases new`)."""
    return hashlib.sha512(b"sentry\x00" + version.encode("utf-8", "surrogatepass")).hexdigest()


def ensure_version(session: Session, project_id: int, version: str) -> Release:
    """The project's release with this version, created when no release has it yet (Sentry events name their
    release by version alone). Called inside the digest's write transaction; a concurrent creation of the same
    release is found again instead of failing the batch."""
    return find_or_create_version(session, project_id, version)[0]


def find_or_create_version(
    session: Session, project_id: int, version: str, project_name: str = ""
) -> tuple[Release, bool]:
    """The one find-or-create of a release named by its version (events' `release`, sentry-cli): the oldest row with
    that version, else a new one keyed by `sentry_hash_id`, so two creators never make two rows; True when created."""
    version = clean_text(version)
    found = session.scalars(
        sa.select(Release)
        .where(Release.project_id == project_id, Release.version == version)
        .order_by(Release.created_at, Release.id)
        .limit(1)
    ).first()
    if found is not None:
        return found, False
    try:
        return create(session, project_id, version=version, project=project_name, hash_id=sentry_hash_id(version)), True
    except HashInUse:  # created concurrently (another upload, or an event naming this release)
        existing = get_by_hash(session, project_id, sentry_hash_id(version))
        if existing is None:
            raise
        return existing, False
