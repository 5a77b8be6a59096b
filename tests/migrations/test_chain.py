"""The migration files read like the history they apply: one linear chain, files numbered in chain order, named
after what they change (docs/DEVELOPING.md, "Database").

The revision ids of the migrations that landed before this rule are kept as they were (databases in the field record
them in `alembic_version`); every later migration's revision id is its file name without `.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic.script import Script, ScriptDirectory

from faultline import migrate

VERSIONS = migrate.MIGRATIONS_DIR / "versions"
FILE_NAME = re.compile(r"(?P<number>[0-9]{4})_(?P<change>[a-z][a-z0-9_]*)\.py")
# Names of work tickets say when a change was made, not what it does.
TICKET_WORDS = re.compile(r"(^|_)(issue|ticket|pr|gh)_?[0-9]+(_|$)")
# Revision ids recorded by databases that upgraded before the files were renamed: never change them.
LANDED_REVISIONS = {
    "0001_initial_schema": "0001",
    "0002_config_revisions": "0006",
    "0003_issue_list_search": "0005",
    "0004_web_sessions": "0008",
    "0005_issue_search_index": "0009",
    "0006_login_throttle": "0010",
}
VERSION_NUM_WIDTH = 32  # alembic_version.version_num is VARCHAR(32)


def _scripts() -> list[Script]:
    return list(ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions("base", "heads"))


def _chain() -> list[Script]:
    """Every revision from base to head, following `down_revision` backwards from the single head."""
    directory = ScriptDirectory.from_config(migrate.alembic_config())
    [head] = directory.get_heads()
    chain: list[Script] = []
    revision: str | None = head
    while revision is not None:
        script = directory.get_revision(revision)
        assert script is not None
        chain.append(script)
        down = script.down_revision
        assert down is None or isinstance(down, str), f"{script.revision} merges several revisions: {down}"
        revision = down
    return chain[::-1]


def test_the_chain_is_linear() -> None:
    scripts = _scripts()
    directory = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(directory.get_heads()) == 1, f"several heads: {directory.get_heads()}"
    assert len(directory.get_bases()) == 1, f"several bases: {directory.get_bases()}"
    for script in scripts:
        assert len(script.nextrev) <= 1, f"{script.revision} has several children: {sorted(script.nextrev)}"
    assert {s.revision for s in _chain()} == {s.revision for s in scripts}, "a revision is not on the chain"


def test_files_are_numbered_in_chain_order_and_named_after_their_change() -> None:
    files = sorted(p.name for p in VERSIONS.glob("*.py") if p.name != "__init__.py")
    for name in files:
        match = FILE_NAME.fullmatch(name)
        assert match, f"{name}: expected NNNN_what_it_changes.py (lower case)"
        assert not TICKET_WORDS.search(match["change"]), f"{name}: name the change, not the work ticket"
    # The next migration takes the next number: no gaps, no two files with one number.
    assert [int(name[:4]) for name in files] == list(range(1, len(files) + 1))
    assert [Path(s.path).name for s in _chain()] == files


def test_revision_ids_are_kept_for_landed_migrations_and_the_file_name_after() -> None:
    for script in _chain():
        stem = Path(script.path).stem
        expected = LANDED_REVISIONS.get(stem, stem)
        assert script.revision == expected, f"{stem}.py must have revision = {expected!r}"
        assert len(script.revision) <= VERSION_NUM_WIDTH, f"{stem}: revision id longer than alembic_version allows"
    # The landed files keep existing (renaming one again would strand databases that recorded its id).
    assert set(LANDED_REVISIONS) <= {Path(s.path).stem for s in _chain()}
