"""users.time_zone (the IANA zone the UI shows exact times in; null = UTC) and organization invites.

* organization_invites — one-time links to join an organization with a role; only the token's SHA-256 is stored
  (unique: the lookup when the link is opened).

Revision ID: 0013_time_zone_invites
Revises: 0012_issue_tags
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_time_zone_invites"
down_revision = "0012_issue_tags"
branch_labels = None
depends_on = None


TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.create_table(
        "organization_invites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("accepted_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_invites_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_organization_invites_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_organization_invites_token_hash")),
    )
    with op.batch_alter_table("organization_invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organization_invites_organization_id"), ["organization_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("organization_invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_invites_organization_id"))
    op.drop_table("organization_invites")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
