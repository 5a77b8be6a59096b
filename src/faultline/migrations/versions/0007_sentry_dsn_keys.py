"""Sentry DSN keys: one table of public keys per project, and one key for every project that exists already.

* dsn_keys (id PRIMARY KEY, project_id → projects ON DELETE CASCADE, public_key UNIQUE, label, enabled,
  created_at) — Sentry ingestion looks a key up by `public_key` (the unique index) on every token-cache miss.
* Existing projects get a key labelled "Default", as new projects do when they are created.

Revision ID: 0007_sentry_dsn_keys
Revises: 0010
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007_sentry_dsn_keys"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    table = op.create_table(
        "dsn_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_dsn_keys_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dsn_keys")),
        sa.UniqueConstraint("public_key", name=op.f("uq_dsn_keys_public_key")),
    )
    with op.batch_alter_table("dsn_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dsn_keys_project_id"), ["project_id"], unique=False)
    projects = op.get_bind().execute(sa.text("SELECT id FROM projects")).scalars().all()
    now = dt.datetime.now(dt.UTC)
    if projects:
        op.bulk_insert(
            table,
            [
                {
                    "id": uuid.uuid4(),
                    "project_id": pid,
                    "public_key": secrets.token_hex(16),
                    "label": "Default",
                    "enabled": True,
                    "created_at": now,
                }
                for pid in projects
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("dsn_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dsn_keys_project_id"))
    op.drop_table("dsn_keys")
