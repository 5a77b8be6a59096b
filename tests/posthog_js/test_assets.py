"""posthog-js files under `/static/`: installing them (registry, tarball, directory, CLI), choosing the version that
answers a request, and serving them the way browsers load them (CORS, caching, 404s in the API's error shape)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from faultline.app import create_app
from faultline.cli import app as cli_app
from faultline.posthog_js.install import (
    InstallError,
    install,
    install_directory,
    install_from_registry,
    install_tarball,
    verify_integrity,
)
from faultline.posthog_js.store import AssetStore, version_key
from tests.conftest import make_settings

SCRIPT = b"/* exception autocapture %s */ window.__ext = true;\n"


def tarball(version: str, *, name: str = "posthog-js", extra: dict[str, bytes] | None = None) -> bytes:
    """An npm-style package tarball with the two files Faultline requires, plus `extra` members."""
    members = {
        "package/package.json": json.dumps({"name": name, "version": version}).encode(),
        "package/dist/array.js": b"/* array %s */" % version.encode(),
        "package/dist/exception-autocapture.js": SCRIPT % version.encode(),
        "package/dist/module.js.map": b"{}",
        "package/README.md": b"readme",
        **(extra or {}),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def store(tmp_path: Path) -> AssetStore:
    return AssetStore(tmp_path / "posthog-js")


# ------------------------------------------------------------------------------------------------- store


def test_versions_sort_in_semver_order_and_pick_what_a_request_needs(store: AssetStore) -> None:
    for version in ("1.9.0", "1.449.2", "1.450.0-beta.1", "1.10.3", "2.0.0-rc.1"):
        install_tarball(store, io.BytesIO(tarball(version)))
    assert store.versions() == ["2.0.0-rc.1", "1.450.0-beta.1", "1.449.2", "1.10.3", "1.9.0"]
    assert store.newest() == "1.449.2"  # releases before pre-releases
    assert store.pick_version("1") == "1.449.2"  # posthog-js's loader may ask for a major only
    assert store.pick_version("2") == "2.0.0-rc.1"
    assert store.pick_version("1.10.3") == "1.10.3"
    assert store.pick_version("1.10.4") is None
    assert store.pick_version("../1.10.3") is None
    assert version_key("1.2.3") > version_key("1.2.3-alpha") > version_key("1.2.2")
    assert store.file("1.10.3", "exception-autocapture.js") is not None
    for hostile in ("../package.json", "..", ".hidden.js", "array.js/..", "a" * 200 + ".js", "array.json"):
        assert store.file("1.10.3", hostile) is None, hostile
    assert store.remove("1.10.3") and not store.remove("1.10.3") and "1.10.3" not in store.versions()


def test_names_that_become_paths_must_match_in_full(store: AssetStore) -> None:
    install_tarball(store, io.BytesIO(tarball("1.10.3")))
    assert store.pick_version("1.10.3\n") is None and store.pick_version("1\n") is None
    assert store.file("1.10.3\n", "array.js") is None
    assert store.file("1.10.3", "array.js\n") is None
    assert not store.remove("1.10.3\n") and store.versions() == ["1.10.3"]
    (store.root / "1.10.4\n").mkdir()  # left there by hand: never listed, never served
    assert store.versions() == ["1.10.3"]
    with pytest.raises(InstallError, match="neither a version nor a dist-tag"):
        install_from_registry(store, "latest\n", "http://127.0.0.1:9")


# ------------------------------------------------------------------------------------------------- install


def test_tarball_install_takes_only_flat_dist_scripts(store: AssetStore, tmp_path: Path) -> None:
    hostile = {
        "package/dist/../../../escape.js": b"nope",
        "package/dist/nested/deep.js": b"nope",
        "/abs.js": b"nope",
        "package/dist/.hidden.js": b"nope",
    }
    data = tarball("1.449.2", extra=hostile)
    link = io.BytesIO(data)
    done = install_tarball(store, link)
    assert (done.version, done.files) == ("1.449.2", 2)
    assert sorted(p.name for p in done.path.iterdir()) == ["array.js", "exception-autocapture.js"]
    assert not (tmp_path / "escape.js").exists() and not list(tmp_path.rglob("deep.js"))
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]  # no staging left behind

    # A symlink member pointing outside is not a regular file: ignored, never followed.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, body in (("package/package.json", b'{"name": "posthog-js", "version": "1.450.0"}'),):
            info = tarfile.TarInfo(path)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        link_info = tarfile.TarInfo("package/dist/array.js")
        link_info.type, link_info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link_info)
    with pytest.raises(InstallError, match=r"no dist/array\.js"):
        install_tarball(store, io.BytesIO(buffer.getvalue()))
    assert store.versions() == ["1.449.2"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (tarball("1.449.2", name="left-pad"), "not the posthog-js package"),
        (tarball("not-a-version"), "unusable version"),
        # `$` matches before a trailing newline: the version must fully match, or it becomes a directory name.
        (tarball("9.9.8\n"), "unusable version"),
        (tarball("\u0661.2.3"), "unusable version"),  # Arabic-Indic digit one: \d matches it, [0-9] does not
        (b"garbage, not gzip", "not a readable npm tarball"),
        (tarball("1.449.2")[:200], "tarball"),
    ],
)
def test_bad_tarballs_install_nothing(store: AssetStore, data: bytes, message: str) -> None:
    with pytest.raises(InstallError, match=message):
        install_tarball(store, io.BytesIO(data))
    assert store.versions() == []
    assert not store.root.exists() or not list(store.root.iterdir())


def test_directory_install_from_a_project_or_the_package(store: AssetStore, tmp_path: Path) -> None:
    package = tmp_path / "app" / "node_modules" / "posthog-js"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "posthog-js", "version": "1.449.2"}))
    (package / "dist" / "array.js").write_text("/* array */")
    (package / "dist" / "exception-autocapture.js").write_text("/* ext */")
    (package / "dist" / "secret.js").symlink_to("/etc/hostname")
    assert install_directory(store, tmp_path / "app").files == 2  # the project dir finds node_modules/posthog-js
    (package / "dist" / "array.js").write_text("/* array, reinstalled */")
    assert install(store, str(package), "http://unused.invalid").version == "1.449.2"  # replaces the same version
    assert (store.root / "1.449.2" / "array.js").read_text() == "/* array, reinstalled */"
    assert not (store.root / "1.449.2" / "secret.js").exists()
    with pytest.raises(InstallError, match="not a posthog-js package directory"):
        install_directory(store, tmp_path)


def test_integrity_check(store: AssetStore) -> None:
    data = b"payload"
    verify_integrity(data, {"integrity": sri(data)})
    verify_integrity(data, {"shasum": hashlib.sha1(data).hexdigest()})
    with pytest.raises(InstallError, match="sha512 integrity"):
        verify_integrity(data + b"!", {"integrity": sri(data)})
    with pytest.raises(InstallError, match="sha1 shasum"):
        verify_integrity(data, {"shasum": "0" * 40})
    with pytest.raises(InstallError, match="no integrity hash"):
        verify_integrity(data, {})


class Registry:
    """A stand-in npm registry on loopback: version manifests and tarballs, as registry.npmjs.org serves them."""

    def __init__(self) -> None:
        self.manifests: dict[str, dict[str, object]] = {}
        self.tarballs: dict[str, bytes] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                if self.path in owner.tarballs:
                    body = owner.tarballs[self.path]
                elif self.path in owner.manifests:
                    body = json.dumps(owner.manifests[self.path]).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, version: str, data: bytes, *, tags: tuple[str, ...] = (), integrity: str | None = None) -> None:
        path = f"/posthog-js/-/posthog-js-{version}.tgz"
        self.tarballs[path] = data
        manifest = {
            "name": "posthog-js",
            "version": version,
            "dist": {"tarball": self.url + path, "integrity": integrity or sri(data)},
        }
        for key in (version, *tags):
            self.manifests[f"/posthog-js/{key}"] = manifest

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry() -> Iterator[Registry]:
    server = Registry()
    yield server
    server.close()


def test_registry_install_by_version_and_tag(store: AssetStore, registry: Registry) -> None:
    registry.publish("1.449.2", tarball("1.449.2"), tags=("latest",))
    registry.publish("1.450.0", tarball("1.450.0"))
    assert install_from_registry(store, "latest", registry.url).version == "1.449.2"
    assert install_from_registry(store, "1.450.0", registry.url).version == "1.450.0"
    assert "/posthog-js/latest" in registry.requests and "/posthog-js/-/posthog-js-1.450.0.tgz" in registry.requests
    assert store.versions() == ["1.450.0", "1.449.2"]


def test_registry_install_refuses_what_it_cannot_trust(store: AssetStore, registry: Registry) -> None:
    registry.publish("1.449.2", tarball("1.449.2"), integrity=sri(b"something else"))
    with pytest.raises(InstallError, match="integrity"):
        install_from_registry(store, "1.449.2", registry.url)
    registry.publish("1.450.0", tarball("1.449.9"))  # manifest and tarball disagree
    with pytest.raises(InstallError, match=r"registry announced 1\.450\.0"):
        install_from_registry(store, "1.450.0", registry.url)
    with pytest.raises(InstallError, match="not found"):
        install_from_registry(store, "9.9.9", registry.url)
    with pytest.raises(InstallError, match="neither a version nor a dist-tag"):
        install_from_registry(store, "../../etc", registry.url)
    with pytest.raises(InstallError, match="cannot reach"):
        install_from_registry(store, "1.0.0", "http://127.0.0.1:9")
    assert store.versions() == []


# ------------------------------------------------------------------------------------------------- CLI


def test_cli_install_list_remove(cli_env: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    assert "no posthog-js version installed" in runner.invoke(cli_app, ["posthog-js", "list"]).output
    registry.publish("1.449.2", tarball("1.449.2"), tags=("latest",))
    monkeypatch.setenv("FAULTLINE_NPM_REGISTRY", registry.url)
    result = runner.invoke(cli_app, ["posthog-js", "install"])
    assert result.exit_code == 0, result.output
    assert "installed posthog-js 1.449.2 (2 files" in result.output
    assert "/static/1.449.2/exception-autocapture.js" in result.output
    assert (cli_env / "posthog-js" / "1.449.2" / "exception-autocapture.js").is_file()
    tgz = cli_env / "posthog-js-1.450.0.tgz"
    tgz.write_bytes(tarball("1.450.0"))
    assert runner.invoke(cli_app, ["posthog-js", "install", str(tgz)]).exit_code == 0
    listed = runner.invoke(cli_app, ["posthog-js", "list"]).output
    assert listed.index("1.450.0") < listed.index("1.449.2") and "serves /static/array.js" in listed
    failed = runner.invoke(cli_app, ["posthog-js", "install", "7.7.7"])
    assert failed.exit_code == 2 and "cannot install posthog-js from 7.7.7" in failed.output
    assert runner.invoke(cli_app, ["posthog-js", "remove", "1.450.0"]).exit_code == 0
    assert runner.invoke(cli_app, ["posthog-js", "remove", "1.450.0"]).exit_code == 2
    monkeypatch.setenv("FAULTLINE_POSTHOG_JS_DIR", str(cli_env / "elsewhere"))
    assert "no posthog-js version installed" in runner.invoke(cli_app, ["posthog-js", "list"]).output


# ------------------------------------------------------------------------------------------------- routes


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, AssetStore]]:
    app = create_app(make_settings(tmp_path / "data"))
    with TestClient(app) as client:
        yield client, app.state.posthog_js


def test_nothing_installed_is_a_404_with_cors_and_one_warning(
    served: tuple[TestClient, AssetStore], caplog: pytest.LogCaptureFixture
) -> None:
    client, _store = served
    with caplog.at_level(logging.INFO, logger="faultline.posthog_js.router"):
        for _ in range(3):
            response = client.get("/static/1.449.2/exception-autocapture.js", headers={"Origin": "https://shop.test"})
            assert response.status_code == 404
        assert client.get("/static/array.js").status_code == 404
    assert response.json() == {
        "type": "invalid_request",
        "code": "not_found",
        "detail": "/static/1.449.2/exception-autocapture.js is not installed on this server.",
        "attr": None,
    }
    assert response.headers["access-control-allow-origin"] == "*"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # once per path, however often browsers ask
    assert "faultline posthog-js install 1.449.2" in warnings[0].getMessage()


def test_versioned_unversioned_and_fallback_paths(served: tuple[TestClient, AssetStore]) -> None:
    client, store = served
    install_tarball(store, io.BytesIO(tarball("1.449.2")))
    install_tarball(store, io.BytesIO(tarball("1.450.0")))

    exact = client.get("/static/1.449.2/exception-autocapture.js")
    assert exact.status_code == 200 and exact.content == SCRIPT % b"1.449.2"
    assert exact.headers["content-type"] == "application/javascript; charset=utf-8"
    assert exact.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert exact.headers["access-control-allow-origin"] == "*"
    assert (
        client.get(
            "/static/1.449.2/exception-autocapture.js", headers={"If-None-Match": exact.headers["etag"]}
        ).status_code
        == 304
    )
    head = client.head("/static/1.449.2/array.js")
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0

    # posthog-js's fallback after a versioned 404: `/static/<name>.js?v=<version>`.
    assert client.get("/static/1.449.9/exception-autocapture.js").status_code == 404
    assert client.get("/static/exception-autocapture.js", params={"v": "1.449.2"}).content == SCRIPT % b"1.449.2"
    assert client.get("/static/exception-autocapture.js", params={"v": "1.449.9"}).content == SCRIPT % b"1.450.0"
    snippet = client.get("/static/array.js")  # the HTML snippet: the newest installed version
    assert snippet.content == b"/* array 1.450.0 */" and snippet.headers["cache-control"] == "public, max-age=3600"
    assert client.get("/static/1/array.js").headers["x-posthog-js-version"] == "1.450.0"  # loader: a major version

    for hostile in (
        "/static/1.449.2/..%2f..%2fsecret_key",
        "/static/..%2fsecret_key",
        "/static/1.449.2/x.json",
        "/static/1.449.2/module.js.map",
        "/static/%00.js",
        "/static/" + "a" * 5000 + ".js",
    ):
        response = client.get(hostile)
        assert response.status_code == 404 and response.json()["code"] == "not_found", hostile
    assert client.options("/static/array.js").headers["access-control-allow-origin"] == "*"
