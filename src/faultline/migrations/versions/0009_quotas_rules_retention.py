"""Quotas, bypass/severity rules and retention (branch i16-quotas).

* bypass_rules, severity_rules — the same columns as the other rule kinds (+ `severity`), evaluated in order.
* issue_rate_windows (issue_id PRIMARY KEY) — the per-issue limit's current window and how many events it stored.
* new_issue_windows (project_id PRIMARY KEY) — the new-issue limiter's current window and issues created in it.
* project_storage (project_id PRIMARY KEY) — bytes and rows of stored events, kept by the digest and retention in
  their own transactions, so the byte budget is a primary-key read instead of a SUM over every event.
* events.size_bytes — each event's stored size (its properties' JSON plus the row overhead); events.pinned —
  the event that created or reopened its issue, which eviction never removes.
* ix_events_project_pinned_timestamp — eviction walks a project's unpinned events oldest first.

Revision ID: 0009_quotas_rules_retention
Revises: 0008_sentry_cli_chunks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_quotas_rules_retention"
down_revision = "0008_sentry_cli_chunks"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[object]:
    from sqlalchemy.dialects import postgresql

    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _rule_table(name: str, *extra: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("filters", _json(), nullable=False),
        sa.Column("order_key", sa.Integer(), nullable=False),
        sa.Column("disabled_data", _json(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f(f"fk_{name}_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{name}_project_id"), ["project_id"], unique=False)


def upgrade() -> None:
    _rule_table("bypass_rules")
    _rule_table("severity_rules", sa.Column("severity", sa.String(length=20), nullable=False))
    op.create_table(
        "issue_rate_windows",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_issue_rate_windows_issue_id_issues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_issue_rate_windows")),
    )
    op.create_table(
        "new_issue_windows",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_new_issue_windows_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_new_issue_windows")),
    )
    op.create_table(
        "project_storage",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("event_bytes", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_storage_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_storage")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("size_bytes", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("pinned", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index("ix_events_project_pinned_timestamp", ["project_id", "pinned", "timestamp"])
    # Events stored before this revision: their size is estimated from their properties, so the budget counts them.
    op.execute(
        "UPDATE events SET size_bytes = 200 + length(CAST(properties AS TEXT))"
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE events SET size_bytes = 200 + length(properties)"
    )
    op.execute(
        "INSERT INTO project_storage (project_id, event_bytes, events) "
        "SELECT project_id, SUM(size_bytes), COUNT(*) FROM events GROUP BY project_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_project_pinned_timestamp")
        batch_op.drop_column("pinned")
        batch_op.drop_column("size_bytes")
    op.drop_table("project_storage")
    op.drop_table("new_issue_windows")
    op.drop_table("issue_rate_windows")
    for name in ("severity_rules", "bypass_rules"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{name}_project_id"))
        op.drop_table(name)
