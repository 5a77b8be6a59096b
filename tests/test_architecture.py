"""The dependency directions of docs/DEVELOPING.md ("Layout"), enforced: the contracts live in pyproject.toml
(`[tool.importlinter]`) and import-linter checks them against the import graph of src/faultline (static: nothing is
imported, function-level imports count too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import EXIT_STATUS_SUCCESS, lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == EXIT_STATUS_SUCCESS, report
    assert "Contracts: 3 kept, 0 broken." in report  # every contract ran
