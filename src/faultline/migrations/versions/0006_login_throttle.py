"""Login throttle: one counter row per e-mail / client address instead of one row per failed attempt.

The old throttle counted failure rows, then checked the password, then inserted a row: 100 concurrent wrong logins
all read "fewer than 5" and 34 of them reached the password check. The new table lets one statement reserve an
attempt or refuse it (`INSERT … ON CONFLICT (key) DO UPDATE … WHERE attempts < limit RETURNING`), which the row lock
(PostgreSQL) or the single writer (SQLite) makes atomic; see `faultline.web.throttle`.

* login_throttle (key PRIMARY KEY) — the upsert's conflict target and the only lookup.
* ix_login_throttle_window_start — pruning expired windows is a range delete on it, not a table scan.

Rows of login_attempts are not carried over: they only ever described the last 15 minutes.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttle_window_start"), ["window_start"], unique=False)
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_key_created")
    op.drop_table("login_attempts")


def downgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_key_created", ["key", "created_at"], unique=False)
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_window_start"))
    op.drop_table("login_throttle")
