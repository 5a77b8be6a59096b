"""The real `sentry-cli` (PyPI `sentry-cli`, the released binary) against a real `faultline serve` process.

sentry-cli is configured only through its documented environment (`SENTRY_URL`, `SENTRY_AUTH_TOKEN` = a Faultline
personal API key, `SENTRY_ORG` / `SENTRY_PROJECT` = the derived slugs `default` / `demo`), with `HOME` pointed at an
empty directory so no `~/.sentryclirc` of the machine leaks in. Covered: `info`, `sourcemaps inject` + `upload`
(chunk upload + artifact-bundle assemble → symbol sets by debug id) followed by an event from that bundle — the stack
is the real one Node prints for the injected file — coming out with original names and lines; `releases new /
finalize / info / list / set-commits (--local and --commit) / delete`, `deploys new / list`. Then the hostile side of
the chunk API with raw requests against small configured limits (one server for the module, with those limits).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.ingest import SAMPLES
from tests.support.live_server import LiveServer, wait_until

pytestmark = pytest.mark.slow

BUNDLE_DIR = SAMPLES / "js_bundle"
SENTRY_CLI = shutil.which("sentry-cli", path=str(Path(sys.executable).parent)) or shutil.which("sentry-cli")
CHUNK = 64 * 1024
PER_REQUEST = 4
LIMITS = {
    "FAULTLINE_SENTRY_CHUNK_BYTES": str(CHUNK),
    "FAULTLINE_SENTRY_CHUNKS_PER_REQUEST": str(PER_REQUEST),
    "FAULTLINE_SENTRY_CHUNK_REQUEST_BYTES": str(2 * CHUNK),
    "FAULTLINE_SENTRY_BUNDLE_MAX_BYTES": str(4 * CHUNK),
    "FAULTLINE_SENTRY_BUNDLE_MAX_FILES": "20",
    "FAULTLINE_SENTRY_BUNDLE_MAX_UNCOMPRESSED_BYTES": str(1024 * 1024),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if SENTRY_CLI is None:
        pytest.fail("sentry-cli is not installed (pip install -e '.[test]')")
    live = LiveServer(data_dir=tmp_path_factory.mktemp("sentry-cli") / "data", env_overrides=LIMITS)
    live.start(timeout=120)  # a loaded CI machine can take a while to migrate and start
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def creds(server: LiveServer) -> dict[str, str]:
    return server.credentials()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def cli_env(server: LiveServer, token: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "FAULTLINE_"))}
    env.update(
        {
            "HOME": str(home),
            "SENTRY_URL": server.url,
            "SENTRY_AUTH_TOKEN": token,
            "SENTRY_ORG": "default",
            "SENTRY_PROJECT": "demo",
            "SENTRY_LOG_LEVEL": "warn",
            "SENTRY_DISABLE_UPDATE_CHECK": "1",
        }
    )
    return env


def sentry_cli(
    server: LiveServer, creds: dict[str, str], home: Path, *args: str, cwd: Path | None = None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    assert SENTRY_CLI is not None
    return subprocess.run(
        [SENTRY_CLI, *args],
        env=cli_env(server, token or creds["api_key"], home),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def api(server: LiveServer, creds: dict[str, str], token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token or creds['api_key']}"}, timeout=60
    )


# ---------------------------------------------------------------------------------------------------------------------
# sentry-cli itself


def test_info_reports_the_server_working(server: LiveServer, creds: dict[str, str], home: Path) -> None:
    done = sentry_cli(server, creds, home, "info")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Method: Auth Token" in done.stdout
    assert "User: admin@faultline.local" in done.stdout
    assert "Default Organization: default" in done.stdout

    refused = sentry_cli(server, creds, home, "info", token="phx_not-a-key")
    assert refused.returncode != 0


def _inject(tmp_path: Path, server: LiveServer, creds: dict[str, str], home: Path) -> tuple[Path, str]:
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("app.min.js", "app.min.js.map"):
        shutil.copy(BUNDLE_DIR / name, dist / name)
    done = sentry_cli(server, creds, home, "sourcemaps", "inject", str(dist))
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"//# debugId=([0-9a-f-]{36})", (dist / "app.min.js").read_text())
    assert found, "sentry-cli inject wrote no debug id"
    return dist, found.group(1)


def _node_frames(script: Path, debug_id: str) -> list[dict[str, Any]]:
    """The stack Node prints for the injected bundle, as PostHog JS frames carrying the debug id as chunk id
    (what the Sentry mapping puts there from `debug_meta.images`), outermost first."""
    node = shutil.which("node")
    assert node, "node is needed to run the injected bundle"
    code = (
        f"require({str(script)!r});"
        "try { globalThis.checkout({id: 'cart-42', items: []}) } catch (e) { console.log(e.stack) }"
    )
    out = subprocess.run([node, "-e", code], capture_output=True, text=True, timeout=60, check=True).stdout
    frames = []
    for line in out.splitlines():
        match = re.match(r"\s+at (\S+) \((.+):(\d+):(\d+)\)$", line)
        if match and match.group(2) == str(script):
            frames.append(
                {
                    "platform": "web:javascript",
                    "filename": "https://shop.example/static/app.min.js",
                    "function": match.group(1),
                    "in_app": True,
                    "lineno": int(match.group(3)),
                    "colno": int(match.group(4)),
                    "chunk_id": debug_id,
                }
            )
    assert [f["function"] for f in frames] == ["i", "r", "c"], out
    return list(reversed(frames))


def _send_exception(server: LiveServer, creds: dict[str, str], frames: list[dict[str, Any]]) -> str:
    event_uuid = str(uuid.uuid4())
    event = {
        "event": "$exception",
        "uuid": event_uuid,
        "distinct_id": "shopper-1",
        "properties": {
            "$exception_list": [
                {
                    "type": "TypeError",
                    "value": "Cart is empty: cannot check out cart-42",
                    "mechanism": {"type": "generic", "handled": True},
                    "stacktrace": {"type": "raw", "frames": frames},
                }
            ],
            "$lib": "web",
        },
    }
    body = {"api_key": creds["project_token"], "batch": [event]}
    response = httpx.post(f"{server.url}/batch/", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return event_uuid


def _stored_frames(client: httpx.Client, project_id: str, event_uuid: str) -> list[dict[str, Any]]:
    def find() -> list[dict[str, Any]] | None:
        issues = client.get(f"/api/projects/{project_id}/error_tracking/issues/?status=all").json()["results"]
        for issue in issues:
            events = client.get(f"/api/projects/{project_id}/error_tracking/issues/{issue['id']}/events/").json()
            for event in events["results"]:
                if event["id"] == event_uuid or event.get("uuid") == event_uuid:
                    return event["properties"]["$exception_list"][0]["stacktrace"]["frames"]
        return None

    frames = wait_until(find, timeout_s=60)
    assert frames, f"event {event_uuid} was not stored"
    return frames


def test_inject_upload_then_an_event_from_the_bundle_has_original_names_and_lines(
    server: LiveServer, creds: dict[str, str], home: Path, tmp_path: Path
) -> None:
    dist, debug_id = _inject(tmp_path, server, creds, home)
    upload = sentry_cli(server, creds, home, "sourcemaps", "upload", "--release", "shop@3.0.0", str(dist))
    assert upload.returncode == 0, upload.stdout + upload.stderr
    assert "File processing complete" in upload.stdout
    assert debug_id in upload.stdout

    client = api(server, creds)
    project_id = creds["project_id"]
    sets = client.get(f"/api/projects/{project_id}/error_tracking/symbol_sets/?ref={debug_id}").json()["results"]
    assert len(sets) == 1 and sets[0]["has_uploaded_file"] is True
    assert sets[0]["release"]["version"] == "shop@3.0.0"

    frames = _stored_frames(
        client, project_id, _send_exception(server, creds, _node_frames(dist / "app.min.js", debug_id))
    )
    bundle_frames = [f for f in frames if f.get("junk_drawer", {}).get("raw_frame", {}).get("chunk_id") == debug_id]
    assert [f["resolved"] for f in bundle_frames] == [True, True, True], bundle_frames
    assert [(f["resolved_name"], f["source"], f["line"]) for f in bundle_frames] == [
        ("checkout", "../src/app.js", 19),
        ("computeTotal", "../src/app.js", 10),
        ("validateCart", "../src/app.js", 4),
    ]

    # CI uploads the same bundle again: nothing changes, no second set.
    again = sentry_cli(server, creds, home, "sourcemaps", "upload", "--release", "shop@3.0.0", str(dist))
    assert again.returncode == 0, again.stdout + again.stderr
    sets = client.get(f"/api/projects/{project_id}/error_tracking/symbol_sets/?ref={debug_id}").json()["results"]
    assert len(sets) == 1


def test_upload_without_inject_is_refused_with_a_message(
    server: LiveServer, creds: dict[str, str], home: Path, tmp_path: Path
) -> None:
    dist = tmp_path / "plain"
    dist.mkdir()
    for name in ("app.min.js", "app.min.js.map"):
        shutil.copy(BUNDLE_DIR / name, dist / name)
    # With a release, sentry-cli uploads maps without debug ids: nothing an event could find them by.
    done = sentry_cli(server, creds, home, "sourcemaps", "upload", "--release", "plain-1", str(dist))
    assert done.returncode != 0
    assert "run `sentry-cli sourcemaps inject` first" in done.stdout + done.stderr


def _git_repo(path: Path) -> str:
    path.mkdir()
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-11-22T10:00:00Z", "GIT_COMMITTER_DATE": "2026-11-22T10:00:00Z"}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=path, env=env, capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "dev@shop.example")
    git("config", "user.name", "Dev")
    git("remote", "add", "origin", "https://github.com/shop/web.git")
    for name in ("a", "b"):
        (path / f"{name}.txt").write_text(name)
        git("add", f"{name}.txt")
        git("commit", "-qm", f"add {name}")
    return git("rev-parse", "HEAD")


def test_releases_new_finalize_commits_and_deploys(
    server: LiveServer, creds: dict[str, str], home: Path, tmp_path: Path
) -> None:
    version = "shop@4.1.0"
    client = api(server, creds)
    project_id = creds["project_id"]

    created = sentry_cli(server, creds, home, "releases", "new", version)
    assert created.returncode == 0, created.stdout + created.stderr
    listed = client.get(f"/api/projects/{project_id}/error_tracking/releases/").json()["results"]
    assert [r["version"] for r in listed].count(version) == 1
    assert client.get(f"/api/0/organizations/default/releases/{version}/").json()["dateReleased"] is None

    finalized = sentry_cli(server, creds, home, "releases", "finalize", version)
    assert finalized.returncode == 0, finalized.stdout + finalized.stderr
    assert client.get(f"/api/0/organizations/default/releases/{version}/").json()["dateReleased"]
    info = sentry_cli(server, creds, home, "releases", "info", version)
    assert info.returncode == 0 and version in info.stdout
    listing = sentry_cli(server, creds, home, "releases", "list")
    assert listing.returncode == 0 and version in listing.stdout

    repo = tmp_path / "repo"
    head = _git_repo(repo)
    local = sentry_cli(server, creds, home, "releases", "set-commits", version, "--local", cwd=repo)
    assert local.returncode == 0, local.stdout + local.stderr
    release = client.get(f"/api/0/organizations/default/releases/{version}/").json()
    assert release["commitCount"] == 2 and release["lastCommit"]["id"] == head
    stored = next(
        r
        for r in client.get(f"/api/projects/{project_id}/error_tracking/releases/").json()["results"]
        if r["version"] == version
    )
    assert stored["metadata"]["git"]["commit_id"] == head

    # The repository --local recorded is now known, so an explicit commit can name it.
    repository = release["lastCommit"]["repository"]
    explicit = sentry_cli(server, creds, home, "releases", "set-commits", version, "--commit", f"{repository}@{head}")
    assert explicit.returncode == 0, explicit.stdout + explicit.stderr
    assert client.get(f"/api/0/organizations/default/releases/{version}/").json()["commitCount"] == 1

    deploy = sentry_cli(server, creds, home, "deploys", "new", "--release", version, "-e", "production", "-n", "web-7")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    deploys = sentry_cli(server, creds, home, "deploys", "list", "--release", version)
    assert deploys.returncode == 0 and "web-7" in deploys.stdout and "production" in deploys.stdout
    assert client.get(f"/api/0/organizations/default/releases/{version}/").json()["deployCount"] == 1

    deleted = sentry_cli(server, creds, home, "releases", "delete", version)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert client.get(f"/api/0/organizations/default/releases/{version}/").status_code == 404


# ---------------------------------------------------------------------------------------------------------------------
# Hostile chunk uploads and bundles (raw requests, the module's small limits)


def _post_chunks(client: httpx.Client, parts: list[tuple[str, str, bytes]]) -> httpx.Response:
    files = [(field, (name, data, "application/octet-stream")) for field, name, data in parts]
    return client.post("/api/0/organizations/default/chunk-upload/", files=files)


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _assemble(client: httpx.Client, bundle: bytes) -> httpx.Response:
    """Upload `bundle` in chunks and assemble it, as sentry-cli does."""
    chunks = [bundle[i : i + CHUNK] for i in range(0, len(bundle), CHUNK)] or [b""]
    body = {"checksum": _sha1(bundle), "chunks": [_sha1(c) for c in chunks], "projects": ["demo"]}
    first = client.post("/api/0/organizations/default/artifactbundle/assemble/", json=body)
    if first.status_code == 200 and first.json()["state"] == "not_found":
        for chunk in chunks:
            assert _post_chunks(client, [("file", _sha1(chunk), chunk)]).status_code == 200
        return client.post("/api/0/organizations/default/artifactbundle/assemble/", json=body)
    return first


def _zip(entries: dict[str, bytes], manifest: dict[str, Any] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", orjson.dumps(manifest if manifest is not None else {"files": {}}))
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _healthy(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/_health", timeout=10).status_code == 200


def test_chunk_size_and_count_limits_at_the_edge(server: LiveServer, creds: dict[str, str]) -> None:
    client = api(server, creds)
    exact = os.urandom(CHUNK)
    assert _post_chunks(client, [("file", _sha1(exact), exact)]).status_code == 200
    over = exact + b"x"
    refused = _post_chunks(client, [("file", _sha1(over), over)])
    assert refused.status_code == 400 and refused.json()["code"] == "chunk_too_large"

    small = [os.urandom(100) for _ in range(PER_REQUEST + 1)]
    ok = _post_chunks(client, [("file", _sha1(c), c) for c in small[:PER_REQUEST]])
    assert ok.status_code == 200
    many = _post_chunks(client, [("file", _sha1(c), c) for c in small])
    assert many.status_code == 400 and many.json()["code"] == "too_many_chunks"

    two = [os.urandom(CHUNK), os.urandom(CHUNK)]  # exactly FAULTLINE_SENTRY_CHUNK_REQUEST_BYTES
    assert _post_chunks(client, [("file", _sha1(c), c) for c in two]).status_code == 200
    zeros = [bytes([n]) * 50_000 for n in range(3)]  # small on the wire, 150 000 bytes once inflated
    inflated = _post_chunks(client, [("file_gzip", _sha1(c), gzip.compress(c)) for c in zeros])
    assert inflated.status_code == 413
    body_cap = 2 * CHUNK * 1025 // 1024 + PER_REQUEST * 1024
    huge = client.post(
        "/api/0/organizations/default/chunk-upload/",
        content=b"x" * (body_cap + 1),
        headers={"Content-Type": "multipart/form-data; boundary=abc"},
    )
    assert huge.status_code == 413

    wrong = _post_chunks(client, [("file", "0" * 40, b"not that")])
    assert wrong.status_code == 400 and wrong.json()["code"] == "checksum_mismatch"
    bad_name = _post_chunks(client, [("file", "../../etc/passwd", b"x")])
    assert bad_name.status_code == 400 and bad_name.json()["code"] == "invalid_checksum"

    bomb_plain = b"\0" * (50 * CHUNK)
    bomb = _post_chunks(client, [("file_gzip", _sha1(bomb_plain), gzip.compress(bomb_plain))])
    assert bomb.status_code == 400 and bomb.json()["code"] == "chunk_too_large"
    gz_ok = os.urandom(1000)
    assert _post_chunks(client, [("file_gzip", _sha1(gz_ok), gzip.compress(gz_ok))]).status_code == 200
    _healthy(server)


def test_assemble_refuses_hostile_bundles(server: LiveServer, creds: dict[str, str]) -> None:
    client = api(server, creds)

    missing = client.post(
        "/api/0/organizations/default/artifactbundle/assemble/",
        json={"checksum": "1" * 40, "chunks": ["2" * 40], "projects": ["demo"]},
    )
    assert missing.status_code == 200 and missing.json() == {
        "state": "not_found",
        "missingChunks": ["2" * 40],
        "detail": None,
    }

    not_zip = _assemble(client, b"this is not a zip file" * 10)
    assert not_zip.status_code == 400 and not_zip.json()["state"] == "error"

    traversal = _assemble(client, _zip({"../../evil.js": b"x"}))
    assert traversal.status_code == 400 and "unsafe entry name" in traversal.json()["detail"]

    too_many = _assemble(client, _zip({f"files/_/_/{i}.js": b"x" for i in range(20)}))  # + manifest = 21 > 20
    assert too_many.status_code == 400 and too_many.json()["code"] == "too_many_files"

    debug_id = str(uuid.uuid4())
    manifest = {
        "files": {
            "files/_/_/app.min.js.map": {
                "type": "source_map",
                "url": "~/app.min.js.map",
                "headers": {"debug-id": debug_id},
            }
        }
    }
    # 2 MiB of zeros deflate to a couple of KB: refused from the declared size, never inflated.
    bomb = _assemble(client, _zip({"files/_/_/app.min.js.map": b"\0" * (2 * 1024 * 1024)}, manifest))
    assert bomb.status_code == 400 and bomb.json()["code"] == "file_too_large"

    not_a_map = _assemble(client, _zip({"files/_/_/app.min.js.map": b"not json"}, manifest))
    assert not_a_map.status_code == 400 and not_a_map.json()["code"] == "invalid_sourcemap"

    too_big = client.post(
        "/api/0/organizations/default/artifactbundle/assemble/",
        json={"checksum": "1" * 40, "chunks": ["2" * 40] * 6, "projects": ["demo"]},
    )
    assert too_big.status_code == 400 and too_big.json()["attr"] == "chunks"

    unknown_org = client.post(
        "/api/0/organizations/nope/artifactbundle/assemble/",
        json={"checksum": "1" * 40, "chunks": ["2" * 40], "projects": ["demo"]},
    )
    assert unknown_org.status_code == 404
    unknown_project = client.post(
        "/api/0/organizations/default/artifactbundle/assemble/",
        json={"checksum": "1" * 40, "chunks": ["2" * 40], "projects": ["nope"]},
    )
    assert unknown_project.status_code == 404
    _healthy(server)


def test_uploads_need_the_write_scope(server: LiveServer, creds: dict[str, str], home: Path) -> None:
    client = api(server, creds)
    created = client.post(
        "/api/personal_api_keys/", json={"label": "read only", "scopes": ["error_tracking:read", "project:read"]}
    )
    assert created.status_code == 201, created.text
    reader = api(server, creds, token=created.json()["value"])
    assert reader.get("/api/0/organizations/default/chunk-upload/").status_code == 200
    data = b"chunk"
    assert _post_chunks(reader, [("file", _sha1(data), data)]).status_code == 403
    refused = reader.post("/api/0/organizations/default/releases/", json={"version": "nope-1", "projects": ["demo"]})
    assert refused.status_code == 403
    assert api(server, creds, token="phx_wrong").get("/api/0/").status_code == 401


# ---------------------------------------------------------------------------------------------------------------------
# With the Sentry SDK ingestion (branch i14-sentry): `send-event`, and a Sentry event whose `debug_meta` names the
# uploaded bundle's debug id. Skipped, saying so, while the envelope endpoint is not part of the build.


def _dsn(server: LiveServer) -> str:
    found = re.search(r"Sentry DSN:\s+(\S+)", server.output())
    probe = httpx.post(f"{server.url}/api/1/envelope/", content=b"{}\n", timeout=60)  # the first POST may be slow
    if found is None or probe.status_code == 404:
        pytest.skip("needs the Sentry SDK ingestion (/api/<id>/envelope/, DSN in the banner): branch i14-sentry")
    return found.group(1)


def test_send_event_and_a_sentry_event_resolve_against_the_upload(
    server: LiveServer, creds: dict[str, str], home: Path, tmp_path: Path
) -> None:
    dsn = _dsn(server)
    dist, debug_id = _inject(tmp_path, server, creds, home)
    upload = sentry_cli(server, creds, home, "sourcemaps", "upload", "--release", "shop@5.0.0", str(dist))
    assert upload.returncode == 0, upload.stdout + upload.stderr
    assert SENTRY_CLI is not None
    sent = subprocess.run(
        [SENTRY_CLI, "send-event", "-m", "checkout page slow", "-r", "shop@5.0.0"],
        env={**cli_env(server, creds["api_key"], home), "SENTRY_DSN": dsn},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr

    url = "https://shop.example/static/app.min.js"
    frames = [
        {"filename": url, "abs_path": url, "function": f["function"], "lineno": f["lineno"], "colno": f["colno"]}
        for f in _node_frames(dist / "app.min.js", debug_id)
    ]
    event_id = uuid.uuid4().hex
    event = {
        "event_id": event_id,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "platform": "javascript",
        "release": "shop@5.0.0",
        "exception": {"values": [{"type": "TypeError", "value": "Cart is empty", "stacktrace": {"frames": frames}}]},
        "debug_meta": {"images": [{"type": "sourcemap", "code_file": url, "debug_id": debug_id}]},
    }
    envelope = b"\n".join(orjson.dumps(x) for x in ({"event_id": event_id, "dsn": dsn}, {"type": "event"}, event))
    posted = httpx.post(f"{server.url}/api/{creds['project_id']}/envelope/", content=envelope + b"\n", timeout=60)
    assert posted.status_code == 200, posted.text

    client = api(server, creds)

    def resolved() -> list[tuple[Any, Any, Any]] | None:
        issues = client.get(f"/api/projects/{creds['project_id']}/error_tracking/issues/?status=all").json()
        names = {issue["name"] for issue in issues["results"]}
        for issue in issues["results"]:
            if issue["name"] != "TypeError":
                continue
            events = client.get(f"/api/projects/{creds['project_id']}/error_tracking/issues/{issue['id']}/events/")
            for stored in events.json()["results"]:
                frames = stored["properties"]["$exception_list"][0]["stacktrace"]["frames"]
                found = [(f.get("resolved_name"), f.get("source"), f.get("line")) for f in frames]
                if ("checkout", "../src/app.js", 19) in found and "checkout page slow" in names:
                    return found
        return None

    assert wait_until(resolved, timeout_s=60) == [
        ("checkout", "../src/app.js", 19),
        ("computeTotal", "../src/app.js", 10),
        ("validateCart", "../src/app.js", 4),
    ]
    releases = client.get(f"/api/projects/{creds['project_id']}/error_tracking/releases/").json()["results"]
    assert [r["version"] for r in releases].count("shop@5.0.0") == 1
