"""Logout ends a session on the server; failed logins are counted per client address

`users.session_epoch` is part of every web session of the account: logging out raises it. The table
`login_failures` holds the failed logins of the last window, per client address.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 01:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tiertrace.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", tiertrace.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_address_failed_at", ["address", "failed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_failed_at"), ["failed_at"], unique=False)


def downgrade() -> None:
    """Lossy: the session epochs and the failed logins of the last window are dropped.

    Upgrading again sets every epoch to 0, which makes a web session that a logout ended valid again
    when it was signed at epoch 0 with the same password hash (up to the session's lifetime). After
    going down and up again, change TIERTRACE_SECRET_KEY to sign everyone out (docs/operations.md).
    The per-address login limit starts from no failures.
    """
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_failed_at"))
        batch_op.drop_index("ix_login_failures_address_failed_at")
    op.drop_table("login_failures")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
