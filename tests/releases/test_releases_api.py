"""`error_tracking/releases` contract (spec §2.5): validation messages, 201/204/404, hash lookups, credential
stripping, tenant isolation."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from faultline.db import Database
from faultline.releases.models import Release
from faultline.releases.service import sanitize_remote_url
from faultline.symbols.models import SymbolSet
from tests.conftest import Tenant
from tests.issues.conftest import Api, error

KEYS = {"id", "hash_id", "team_id", "created_at", "metadata", "version", "project"}


@pytest.fixture
def api(client: TestClient, seed: Tenant) -> Api:
    return Api(client, seed)


def test_create_and_validation_messages(api: Api, seed: Tenant) -> None:
    created = api.post("releases/", json={"version": "1.0.0", "project": "web"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) == KEYS and body["team_id"] == seed.project.id
    assert body["hash_id"] == body["id"] and body["metadata"] is None

    assert error(api.post("releases/", json={"project": "web"})) == (400, "invalid_input", "Version is required", None)
    assert error(api.post("releases/", json={"version": "", "project": "web"}))[2] == "Version is required"
    assert error(api.post("releases/", json={"version": "1"}))[2] == "Project is required"
    assert error(api.post("releases/", json={"version": "1", "project": "web", "hash_id": "h" * 129})) == (
        400,
        "invalid_input",
        "Hash id length cannot exceed 128 bytes",
        None,
    )
    # The CLI's hash id: SHA-512 hex (128 characters) of project + version.
    cli_hash = hashlib.sha512(b"web" + b"2.0.0").hexdigest()
    assert api.post("releases/", json={"version": "2.0.0", "project": "web", "hash_id": cli_hash}).status_code == 201
    assert error(api.post("releases/", json={"version": "2.0.1", "project": "web", "hash_id": cli_hash})) == (
        400,
        "invalid_input",
        f"Hash id {cli_hash} already in use",
        None,
    )
    # Numbers are coerced to strings, as PostHog does.
    coerced = api.post("releases/", json={"version": 3, "project": 7, "hash_id": 42}).json()
    assert (coerced["version"], coerced["project"], coerced["hash_id"]) == ("3", "7", "42")
    assert error(api.post("releases/", json={"version": ["1"], "project": "web"}))[::3] == (400, "version")
    assert error(api.post("releases/", json=[1, 2]))[0] == 400
    assert error(api.post("releases/", json={"version": "v" * 2001, "project": "web"}))[::3] == (400, "version")
    assert error(api.post("releases/", json={"version": "1", "project": "web", "metadata": "x" * 70000}))[0] == 400
    deep: object = "leaf"
    for _ in range(40):
        deep = {"a": deep}
    assert error(api.post("releases/", json={"version": "1", "project": "web", "metadata": deep}))[0] == 400


@pytest.mark.parametrize(
    ("remote", "clean"),
    [
        ("https://x-access-token:ghp_secret@github.com/acme/web.git", "https://github.com/acme/web.git"),
        ("https://ghp_secret@github.com/acme/web.git?token=abc#frag", "https://github.com/acme/web.git"),
        ("http://user:p@ss@gitlab.local:8443/a/b", "http://gitlab.local:8443/a/b"),
        ("ssh://git:secret@github.com/acme/web.git", "ssh://git@github.com/acme/web.git"),
        ("ssh://git@github.com/acme/web.git", "ssh://git@github.com/acme/web.git"),
        ("git@github.com:acme/web.git", "git@github.com:acme/web.git"),
        ("deploy:hunter2@example.com:acme/web.git", "deploy@example.com:acme/web.git"),
        ("/srv/git/web.git", "/srv/git/web.git"),
        ("https://[::1/x", "https://[::1/x"),
        ("https://tok@[::1/x?q=1", "https://[::1/x"),
        # Scheme-relative, scheme-less and scp-like forms, and credentials in the query (issue 12, item 6).
        ("//x-access-token:secret@example.com/repo.git?access_token=q", "//example.com/repo.git"),
        ("x-access-token:secret@github.com/acme/web.git", "github.com/acme/web.git"),
        ("ghp_secret@github.com/acme/web.git?token=t", "github.com/acme/web.git"),
        ("git@github.com:acme/web.git?private_token=p", "git@github.com:acme/web.git"),
        ("https://gitlab.com/acme/web.git?private_token=p&x=1#access_token=f", "https://gitlab.com/acme/web.git"),
        ("HTTPS://U:P@GitHub.com/a.git", "HTTPS://GitHub.com/a.git"),
        ("git+https://u:p@host/a.git", "git+https://host/a.git"),
        ("https://user:pa#ss?word@host/a.git", "https://host/a.git"),
        ("https://u:p@host?access_token=x", "https://host"),
        ("file:///srv/git/web.git?token=x", "file:///srv/git/web.git"),
        ("/srv/git/web.git?token=x", "/srv/git/web.git"),
        ("https:\\\\u:secret@host\\a.git", "host\\a.git"),
    ],
)
def test_sanitize_remote_url(remote: str, clean: str) -> None:
    assert sanitize_remote_url(remote) == clean
    for secret in ("secret", "ghp_", "hunter2", "access_token", "private_token", "pa#ss", ":P@", ":p@"):
        if secret not in remote.split("@")[-1]:  # a secret that is part of the host/path itself is not a secret
            assert secret not in sanitize_remote_url(remote), (remote, secret)


def test_credentials_never_stored(api: Api, db: Database) -> None:
    metadata = {
        "git": {
            "commit_id": "abc123",
            "remote_url": "https://x-access-token:ghp_secret@github.com/acme/web.git?x=1",
            "branch": "main",
            "repo_name": "web",
        },
        "extra": ["keep", {"me": True}],
    }
    body = api.post("releases/", json={"version": "1", "project": "web", "metadata": metadata}).json()
    assert body["metadata"]["git"]["remote_url"] == "https://github.com/acme/web.git"
    assert body["metadata"]["git"]["commit_id"] == "abc123" and body["metadata"]["extra"] == ["keep", {"me": True}]
    api.patch(f"releases/{body['id']}/", json={"metadata": {"git": {"remote_url": "https://u:pw@gitlab.com/x.git"}}})
    with db.read() as session:
        stored = session.execute(sa.select(Release.metadata_)).scalars().all()
    assert "ghp_secret" not in repr(stored) and "pw@" not in repr(stored)
    assert stored == [{"git": {"remote_url": "https://gitlab.com/x.git"}}]
    # NUL characters (which PostgreSQL refuses) are replaced, not fatal.
    odd = api.post("releases/", json={"version": "1\x00", "project": "w", "metadata": {"k\x00": "v\x00"}}).json()
    assert odd["version"] == "1\ufffd" and odd["metadata"] == {"k\ufffd": "v\ufffd"}


def test_scheme_relative_remote_with_token_query_is_stored_clean(api: Api, db: Database) -> None:
    """The probe of issue 12: this remote was stored exactly as sent."""
    git = {"remote_url": "//x-access-token:secret@example.com/repo.git?access_token=q", "web_url": "u:s3cr3t@h/x"}
    body = api.post("releases/", json={"version": "2", "project": "web", "metadata": {"git": git}}).json()
    assert body["metadata"]["git"] == {"remote_url": "//example.com/repo.git", "web_url": "h/x"}
    with db.read() as session:
        stored = repr(session.execute(sa.select(Release.metadata_)).scalars().all())
    assert "secret" not in stored and "access_token" not in stored and "s3cr3t" not in stored


def test_list_retrieve_by_hash_update_delete(api: Api, db: Database, seed: Tenant) -> None:
    ids = [api.post("releases/", json={"version": f"1.{n}", "project": "web"}).json()["id"] for n in range(3)]
    listed = api.get("releases/").json()
    assert [r["id"] for r in listed["results"]] == ids[::-1]  # newest first
    one = api.get(f"releases/{ids[0]}/").json()
    assert one["version"] == "1.0"
    assert api.get(f"releases/hash/{one['hash_id']}/").json() == one
    for missing in (f"releases/{uuid.uuid4()}/", "releases/nope/", "releases/hash/unknown/", "releases/hash/a%00b/"):
        assert error(api.get(missing))[:2] == (404, "not_found"), missing

    # PUT/PATCH answer 204 with no body; only non-empty values overwrite.
    response = api.patch(f"releases/{ids[0]}/", json={"version": "1.0.1", "project": "", "hash_id": "custom"})
    assert response.status_code == 204 and response.content == b""
    updated = api.get(f"releases/{ids[0]}/").json()
    assert (updated["version"], updated["project"], updated["hash_id"]) == ("1.0.1", "web", "custom")
    assert api.put(f"releases/{ids[0]}/", json={"metadata": {"a": 1}}).status_code == 204
    assert api.get("releases/hash/custom/").json()["metadata"] == {"a": 1}
    assert api.put(f"releases/{ids[0]}/").status_code == 204
    taken = api.get(f"releases/{ids[1]}/").json()["hash_id"]
    assert error(api.patch(f"releases/{ids[0]}/", json={"hash_id": taken})) == (
        400,
        "invalid_input",
        f"Hash id {taken} already in use",
        None,
    )
    assert error(api.patch(f"releases/{ids[0]}/", json={"hash_id": "x" * 200}))[2] == (
        "Hash id length cannot exceed 128 bytes"
    )
    assert error(api.patch(f"releases/{uuid.uuid4()}/", json={"version": "9"}))[0] == 404

    # Deleting a release takes its symbol sets with it (PostHog's cascade).
    with db.write() as session:
        session.add(SymbolSet(project_id=seed.project.id, ref="chunk", release_id=uuid.UUID(ids[2])))
    assert api.delete(f"releases/{ids[2]}/").status_code == 204
    assert api.get(f"releases/{ids[2]}/").status_code == 404
    assert error(api.delete(f"releases/{ids[2]}/"))[0] == 404
    with db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(SymbolSet)).scalar_one() == 0
    assert api.get("releases/").json()["count"] == 2


def test_releases_are_tenant_isolated(api: Api, client: TestClient, other_tenant: Tenant) -> None:
    mine = api.post("releases/", json={"version": "1", "project": "web", "hash_id": "shared-hash"}).json()
    theirs = Api(client, other_tenant)
    assert theirs.get("releases/").json()["count"] == 0
    assert theirs.get(f"releases/{mine['id']}/").status_code == 404
    assert theirs.get("releases/hash/shared-hash/").status_code == 404
    assert theirs.patch(f"releases/{mine['id']}/", json={"version": "evil"}).status_code == 404
    assert theirs.delete(f"releases/{mine['id']}/").status_code == 404
    # The same hash id is free in another project.
    assert theirs.post("releases/", json={"version": "1", "project": "x", "hash_id": "shared-hash"}).status_code == 201
    assert api.get(f"releases/{mine['id']}/").json()["version"] == "1"
    # And the project in the URL must be one of the caller's.
    assert (
        client.get(
            f"/api/environments/{api.tenant.project.id}/error_tracking/releases/", headers=other_tenant.headers
        ).status_code
        == 404
    )
