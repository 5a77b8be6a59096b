"""Issue tags (release, environment, level per issue), the release an issue regressed in, and its culprit.

* issue_tags (issue_id, key, value) — per issue, the values of the few event facts people filter by, with counts
  and first/last seen, kept by the digest worker; ix_issue_tags_project_key_value answers "issues seen in release
  X" (list filters, the Releases page) from the index.
* issues.regressed_in — the release whose event reopened a resolved issue that had never been seen in it.
* issues.culprit — `function in file` where the exception was raised, shown in the list and the issue header.
* events.browser / os / url — the breakdown facts, copied out of the properties when an event is stored (nullable:
  adding them rewrites nothing on PostgreSQL).

Events stored before this revision are not tagged (the digest tags what it stores from now on; a merge or split
re-derives the tags of the issues it touches from their events).

Revision ID: 0012_issue_tags
Revises: 0011_search_frames
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_issue_tags"
down_revision = "0011_search_frames"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "issue_tags",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_tags_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_issue_tags_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "key", "value", name=op.f("pk_issue_tags")),
    )
    with op.batch_alter_table("issue_tags", schema=None) as batch_op:
        batch_op.create_index("ix_issue_tags_project_key_value", ["project_id", "key", "value"], unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("browser", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("os", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("url", sa.String(length=200), nullable=True))
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("regressed_in", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("culprit", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("url")
        batch_op.drop_column("os")
        batch_op.drop_column("browser")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("culprit")
        batch_op.drop_column("regressed_in")
    with op.batch_alter_table("issue_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_tags_project_key_value")
    op.drop_table("issue_tags")
