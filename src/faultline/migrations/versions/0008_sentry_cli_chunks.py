"""sentry_chunks: the chunks sentry-cli uploaded that no artifact bundle has used yet.

The chunk bytes live in the blob store; these rows make them bounded (pending bytes per organization, an age after
which they are swept) and let `assemble` find the missing chunks with one query instead of one storage request
per chunk. See `faultline.symbols.sentry_uploads`.

* sentry_chunks (organization_id, checksum) PRIMARY KEY — one row per content-addressed chunk of an organization.
* ix_sentry_chunks_created_at — the sweep of old chunks is a range scan on it.

Revision ID: 0008_sentry_cli_chunks
Revises: 0007_sentry_dsn_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_sentry_cli_chunks"
down_revision = "0007_sentry_dsn_keys"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sentry_chunks",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("checksum", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_sentry_chunks_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "checksum", name=op.f("pk_sentry_chunks")),
    )
    with op.batch_alter_table("sentry_chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sentry_chunks_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sentry_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sentry_chunks_created_at"))
    op.drop_table("sentry_chunks")
