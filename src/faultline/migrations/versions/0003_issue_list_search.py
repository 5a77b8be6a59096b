"""Issue list: exception type/value search columns and the indexes behind every list sort order.

Columns:
* issues.exception_types / issues.exception_values (TEXT, nullable) — the distinct exception types and messages of
  the issue's exception chain, newline-separated and capped, written by the digest worker when it creates the issue
  and combined on merge. The issue list searches them (with name and description) without touching `events`.

Indexes (measured with bench/api.py data on SQLite: 100 000 issues / 1 000 000 events; CPU time per query):
* issues (project_id, status, first_seen | occurrences | users) — a status tab sorted by any offered order is an
  index walk that stops after one page. Without them SQLite walks (project_id, <order>) and filters on status,
  which is fine for a big tab but visits every issue for a small one: 67 ms → 0.1 ms for a page of an (almost)
  empty tab. (project_id, status, last_seen) already exists for the default order.
* issues (project_id, users) — "most users" across statuses: 107 ms (sorting every issue) → 0.1 ms.
* issue_fingerprints (project_id, created_at) — the fingerprint list is ordered by created_at (PostHog's order):
  10 ms (sort) → 0.1 ms per page.
* issue_assignments (user_id), (role_id) — "assigned to me / to my roles" starts from the assignments
  (10 000 rows → 20 ms instead of probing 100 000 issues: 150 ms), and PostgreSQL does not index foreign keys, so
  deleting a user or role would otherwise scan every assignment.

Revision ID: 0005
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exception_types", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("exception_values", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_issues_project_status_first_seen", ["project_id", "status", "first_seen"], unique=False
        )
        batch_op.create_index(
            "ix_issues_project_status_occurrences", ["project_id", "status", "occurrences"], unique=False
        )
        batch_op.create_index("ix_issues_project_status_users", ["project_id", "status", "users"], unique=False)
        batch_op.create_index("ix_issues_project_users", ["project_id", "users"], unique=False)
    with op.batch_alter_table("issue_fingerprints", schema=None) as batch_op:
        batch_op.create_index("ix_issue_fingerprints_project_created_at", ["project_id", "created_at"], unique=False)
    with op.batch_alter_table("issue_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_issue_assignments_user_id", ["user_id"], unique=False)
        batch_op.create_index("ix_issue_assignments_role_id", ["role_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("issue_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_assignments_role_id")
        batch_op.drop_index("ix_issue_assignments_user_id")
    with op.batch_alter_table("issue_fingerprints", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_fingerprints_project_created_at")
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index("ix_issues_project_users")
        batch_op.drop_index("ix_issues_project_status_users")
        batch_op.drop_index("ix_issues_project_status_occurrences")
        batch_op.drop_index("ix_issues_project_status_first_seen")
        batch_op.drop_column("exception_values")
        batch_op.drop_column("exception_types")
