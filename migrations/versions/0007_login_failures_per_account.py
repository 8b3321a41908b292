"""Failed logins count per account and client address (login_failures.user_id), not in users.failed_logins
and users.locked_until

A failed login at an account is a row of login_failures naming the user, so that five from one client
address lock only that address out of the account, and 100 from all addresses lock the account (the
table is shared by every portal process, as the per-address count already was). users.failed_logins and
users.locked_until, which let anyone lock any account with five wrong passwords, are dropped. The rows
written before keep their meaning: without a user, they count toward their address only. An account
locked at the upgrade is open again (at most 15 minutes early). SQLite copies both tables (batch mode);
each holds one row per person or per failure of the last 15 minutes.

The downgrade restores the columns with no failures and no lock (failed_logins 0, locked_until NULL)
and drops login_failures.user_id: it loses which account each failure of the last 15 minutes tried;
those failures still count toward their address.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tiertrace.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_login_failures_user_id_users"), "users", ["user_id"], ["id"]
        )
        batch_op.create_index("ix_login_failures_user_id_failed_at", ["user_id", "failed_at"], unique=False)


def downgrade() -> None:
    """Lossy: which account each failed login of the last 15 minutes tried; see the module docstring."""
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_user_id_failed_at")
        batch_op.drop_constraint(batch_op.f("fk_login_failures_user_id_users"), type_="foreignkey")
        batch_op.drop_column("user_id")
    # NOT NULL without a default, as 0001 made it: the default only fills the rows there are.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("locked_until", tiertrace.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("failed_logins", existing_type=sa.Integer(), server_default=None)
