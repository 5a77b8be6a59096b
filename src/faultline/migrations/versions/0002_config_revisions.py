"""Rules and SDK remote config: a per-project revision counter that invalidates in-memory caches everywhere.

Table:
* config_revisions (project_id PK → projects, cascade) — `revision` is bumped in the transaction of every rule,
  autocapture-control or settings write. Digest workers and the remote-config endpoints read it by primary key
  (one row, no extra index needed) to decide whether their compiled copy is stale.

Revision ID: 0006
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "config_revisions",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_config_revisions_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_config_revisions")),
    )


def downgrade() -> None:
    op.drop_table("config_revisions")
