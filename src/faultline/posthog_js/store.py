"""The installed posthog-js versions on disk and which file answers a `/static/…` request.

Layout: `<root>/<version>/<name>.js`, one directory per version holding the package's `dist/*.js`. A directory
appears only complete (installs write elsewhere and rename), so a reader never sees half a version.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from faultline.config import Settings

# These names become directory and file names: always test them with `fullmatch` (`$` also matches before a
# trailing newline, so `re.match(r"^…$", "9.9.8\n")` accepts a name with a newline in it) and ASCII digits only.
# npm versions as posthog-js publishes them ("1.449.2", "1.450.0-beta.1").
VERSION = re.compile(r"([0-9]{1,6})\.([0-9]{1,6})\.([0-9]{1,6})(?:-([0-9A-Za-z.-]{1,64}))?")
# posthog-js's loader may ask for a major version only (`data-sdk-version="1"` → `/static/1/array.js`).
MAJOR = re.compile(r"[0-9]{1,6}")
# Every file the SDK loads is a flat `dist/` name such as `exception-autocapture.js` or `array.full.es5.js`.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.js")


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Sort key in semver order (a pre-release sorts before its release); unparseable versions sort first."""
    match = VERSION.fullmatch(version)
    if match is None:
        return (-1, -1, -1, -1, version)
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def default_root(settings: Settings) -> Path:
    return settings.posthog_js_dir or settings.data_dir / "posthog-js"


@dataclass(frozen=True)
class InstalledVersion:
    version: str
    path: Path

    def files(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if p.is_file() and FILE_NAME.fullmatch(p.name))


class AssetStore:
    """Read side (the HTTP routes) and the final rename of installs (the CLI)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listing: tuple[int, list[str]] | None = None

    def versions(self) -> list[str]:
        """Installed versions, newest first. The listing is cached until the root directory changes."""
        try:
            stamp = self.root.stat().st_mtime_ns
        except OSError:
            return []
        cached = self._listing
        if cached is not None and cached[0] == stamp:
            return cached[1]
        names = [entry.name for entry in os.scandir(self.root) if entry.is_dir() and VERSION.fullmatch(entry.name)]
        ordered = sorted(names, key=version_key, reverse=True)
        self._listing = (stamp, ordered)
        return ordered

    def installed(self) -> list[InstalledVersion]:
        return [InstalledVersion(v, self.root / v) for v in self.versions()]

    def newest(self, major: str | None = None) -> str | None:
        """The newest release (pre-releases only when nothing else is installed), optionally within one major."""
        versions = [v for v in self.versions() if major is None or v.split(".", 1)[0] == major]
        releases = [v for v in versions if "-" not in v]
        return (releases or versions or [None])[0]

    def pick_version(self, requested: str | None) -> str | None:
        """The version that answers a request: exact if installed, the newest of a major, else nothing."""
        if requested is None:
            return self.newest()
        if MAJOR.fullmatch(requested):
            return self.newest(major=requested)
        if VERSION.fullmatch(requested) and requested in self.versions():
            return requested
        return None

    def file(self, version: str, name: str) -> Path | None:
        if not FILE_NAME.fullmatch(name) or not VERSION.fullmatch(version):
            return None
        path = self.root / version / name
        return path if path.is_file() else None

    # --------------------------------------------------------------------------------------------- writes

    def staging_dir(self, version: str) -> Path:
        """A private directory next to the final one (same filesystem, so the final rename is atomic)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{version}-{os.getpid()}-{os.urandom(4).hex()}"
        staging.mkdir()
        return staging

    def commit(self, staging: Path, version: str) -> InstalledVersion:
        """Swap a fully written staging directory in as `version`, replacing an older copy of the same version."""
        target = self.root / version
        retired: Path | None = None
        if target.exists():
            retired = self.root / f".retired-{version}-{os.getpid()}-{os.urandom(4).hex()}"
            target.rename(retired)
        staging.rename(target)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
        self._listing = None
        return InstalledVersion(version, target)

    def remove(self, version: str) -> bool:
        if not VERSION.fullmatch(version):
            return False
        target = self.root / version
        if not target.is_dir():
            return False
        shutil.rmtree(target)
        self._listing = None
        return True
