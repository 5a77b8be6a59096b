"""Put a posthog-js version into the asset store: from the npm registry, an npm tarball, or an unpacked package.

Only the package's `dist/*.js` files are taken, each written under a name we validated ourselves (archive member
paths are never used as paths), with size caps on the download and on every file, so a hostile or broken tarball
cannot write outside the store or fill the disk. A registry download must match the integrity hash the registry
published for it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

from faultline.ids import parse_ascii_int
from faultline.posthog_js.store import FILE_NAME, VERSION, AssetStore, InstalledVersion

PACKAGE = "posthog-js"
MAX_TARBALL_BYTES = 100 * 1024 * 1024
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TOTAL_BYTES = 300 * 1024 * 1024
MAX_MANIFEST_BYTES = 5 * 1024 * 1024
# dist-tags ("latest", "beta") or exact versions; anything else is refused before it reaches a URL.
SPEC = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]{0,63}")  # used with fullmatch


class InstallError(Exception):
    """Why a version could not be installed, worded for the person running the command."""


@dataclass(frozen=True)
class Installed:
    version: str
    files: int
    bytes: int
    path: Path


def _read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    declared = parse_ascii_int(response.headers.get("content-length"), max_digits=20)
    if declared is not None and declared > limit:
        raise InstallError(f"{what} is {declared} bytes, more than the {limit} allowed")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise InstallError(f"{what} is larger than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def _get(client: httpx.Client, url: str, limit: int, what: str) -> bytes:
    try:
        with client.stream("GET", url) as response:
            if response.status_code == 404:
                raise InstallError(f"{what} not found ({url})")
            if response.status_code != 200:
                raise InstallError(f"{what}: {url} answered HTTP {response.status_code}")
            return _read_capped(response, limit, what)
    except httpx.HTTPError as exc:
        raise InstallError(f"{what}: cannot reach {url}: {exc}") from None


def verify_integrity(data: bytes, dist: dict[str, Any]) -> None:
    """npm's `dist.integrity` (Subresource-Integrity string, strongest algorithm wins) or the legacy sha1 shasum."""
    integrity = dist.get("integrity")
    if isinstance(integrity, str) and integrity.strip():
        candidates = {}
        for item in integrity.split():
            algorithm, _, digest = item.partition("-")
            if algorithm in ("sha512", "sha384", "sha256"):
                candidates[algorithm] = digest
        for algorithm in ("sha512", "sha384", "sha256"):
            if algorithm in candidates:
                actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
                if actual != candidates[algorithm]:
                    raise InstallError(f"download does not match the registry's {algorithm} integrity hash")
                return
    shasum = dist.get("shasum")
    if isinstance(shasum, str) and shasum:
        if hashlib.sha1(data).hexdigest() != shasum.lower():
            raise InstallError("download does not match the registry's sha1 shasum")
        return
    raise InstallError("the registry published no integrity hash for this version; refusing an unverifiable download")


def install_from_registry(store: AssetStore, spec: str, registry: str, *, timeout: float = 60.0) -> Installed:
    """`spec`: an exact version ("1.449.2") or a dist-tag ("latest")."""
    if not SPEC.fullmatch(spec):
        raise InstallError(f"{spec!r} is neither a version nor a dist-tag")
    manifest_url = f"{registry.rstrip('/')}/{PACKAGE}/{quote(spec, safe='')}"
    with httpx.Client(timeout=timeout, follow_redirects=True, headers={"Accept": "application/json"}) as client:
        raw = _get(client, manifest_url, MAX_MANIFEST_BYTES, f"{PACKAGE}@{spec}")
        try:
            manifest = json.loads(raw)
        except ValueError:
            raise InstallError(f"{manifest_url} did not answer JSON") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("dist"), dict):
            raise InstallError(f"{manifest_url} is not an npm version manifest")
        version, dist = manifest.get("version"), manifest["dist"]
        tarball_url = dist.get("tarball")
        if manifest.get("name") != PACKAGE or not isinstance(version, str) or not VERSION.fullmatch(version):
            raise InstallError(f"{manifest_url} describes {manifest.get('name')}@{version}, not a {PACKAGE} release")
        if not isinstance(tarball_url, str) or not tarball_url.startswith(("https://", "http://")):
            raise InstallError(f"{manifest_url} names no tarball to download")
        data = _get(client, tarball_url, MAX_TARBALL_BYTES, f"{PACKAGE}@{version} tarball")
    verify_integrity(data, dist)
    return install_tarball(store, io.BytesIO(data), expected_version=version)


def _package_json(raw: bytes) -> str:
    try:
        package = json.loads(raw)
    except ValueError:
        raise InstallError("package.json is not JSON") from None
    if not isinstance(package, dict) or package.get("name") != PACKAGE:
        raise InstallError(f"this is not the {PACKAGE} package (package.json names {package.get('name')!r})")
    version = package.get("version")
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise InstallError(f"package.json has an unusable version {version!r}")
    return version


def _open_tarball(source: IO[bytes] | Path) -> tarfile.TarFile:
    try:
        if isinstance(source, Path):
            return tarfile.open(source, mode="r:*")
        return tarfile.open(fileobj=source, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise InstallError(f"not a readable npm tarball: {exc}") from None


def install_tarball(store: AssetStore, source: IO[bytes] | Path, *, expected_version: str | None = None) -> Installed:
    """An npm tarball (`npm pack`, or the registry's .tgz): `<top>/package.json` and `<top>/dist/*.js`."""
    with _open_tarball(source) as archive:
        members = {}
        version = None
        try:
            for member in archive:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "package.json" and member.isfile() and member.size < 1024 * 1024:
                    handle = archive.extractfile(member)
                    version = _package_json(handle.read() if handle else b"")
                elif len(parts) == 3 and parts[1] == "dist" and member.isfile() and FILE_NAME.fullmatch(parts[2]):
                    members[parts[2]] = member
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InstallError(f"broken npm tarball: {exc}") from None
        if version is None:
            raise InstallError("the tarball holds no package.json")
        if expected_version is not None and version != expected_version:
            raise InstallError(f"the tarball is {PACKAGE}@{version}, the registry announced {expected_version}")
        staging = store.staging_dir(version)
        try:
            total = 0
            for name, member in members.items():
                if member.size > MAX_FILE_BYTES:
                    raise InstallError(f"dist/{name} is {member.size} bytes, more than the {MAX_FILE_BYTES} allowed")
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                total += _copy_capped(handle, staging / name)
                if total > MAX_TOTAL_BYTES:
                    raise InstallError(f"dist/ holds more than the {MAX_TOTAL_BYTES} bytes allowed")
            return _finish(store, staging, version, len(members), total)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def install_directory(store: AssetStore, path: Path) -> Installed:
    """An unpacked package: `node_modules/posthog-js` (or a project directory that has one)."""
    package_dir = path
    if not (package_dir / "package.json").is_file() and (path / "node_modules" / PACKAGE).is_dir():
        package_dir = path / "node_modules" / PACKAGE
    if not (package_dir / "package.json").is_file() or not (package_dir / "dist").is_dir():
        raise InstallError(f"{path} is not a {PACKAGE} package directory (no package.json and dist/)")
    version = _package_json((package_dir / "package.json").read_bytes())
    staging = store.staging_dir(version)
    try:
        total, count = 0, 0
        for entry in sorted((package_dir / "dist").iterdir()):
            if entry.is_file() and not entry.is_symlink() and FILE_NAME.fullmatch(entry.name):
                if entry.stat().st_size > MAX_FILE_BYTES:
                    raise InstallError(f"dist/{entry.name} is larger than the {MAX_FILE_BYTES} bytes allowed")
                with entry.open("rb") as handle:
                    total += _copy_capped(handle, staging / entry.name)
                count += 1
        return _finish(store, staging, version, count, total)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def install(store: AssetStore, source: str, registry: str) -> Installed:
    """What `faultline posthog-js install SOURCE` means: a local directory or .tgz if one exists, else a
    version or dist-tag to download from the registry."""
    path = Path(source).expanduser()
    if path.is_dir():
        return install_directory(store, path)
    if path.is_file():
        return install_tarball(store, path)
    return install_from_registry(store, source, registry)


def _copy_capped(handle: Any, target: Path) -> int:
    written = 0
    with target.open("wb") as out:
        while chunk := handle.read(1024 * 1024):
            written += len(chunk)
            if written > MAX_FILE_BYTES:
                raise InstallError(f"{target.name} is larger than the {MAX_FILE_BYTES} bytes allowed")
            out.write(chunk)
    return written


def _finish(store: AssetStore, staging: Path, version: str, count: int, total: int) -> Installed:
    if not (staging / "array.js").is_file() or not (staging / "exception-autocapture.js").is_file():
        raise InstallError(
            f"{PACKAGE}@{version} has no dist/array.js and dist/exception-autocapture.js; "
            "it is too old (or too new) for Faultline to serve"
        )
    installed: InstalledVersion = store.commit(staging, version)
    return Installed(version=version, files=count, bytes=total, path=installed.path)
