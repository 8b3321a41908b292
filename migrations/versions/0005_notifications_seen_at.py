"""What each person has seen of the notifications: users.notifications_seen_at

The web menu counted the notifications of the last 7 days; it now counts those created after the newest
one the person has seen. Existing accounts start at the upgrade's time less 7 days, so that the menu's
figure goes on from what it showed, instead of every past notification turning "new" at once. New
accounts start at NULL: everything their organisation got is new to them until they open the page.

Adding a nullable column is no table rewrite, and the one UPDATE touches every account once.
The downgrade drops the column, and with it what everyone has seen (`downgrade` says what that means).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 03:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import tiertrace.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: How far back the menu counted before this revision; what existing accounts start as having seen.
FORMER_WINDOW = timedelta(days=7)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notifications_seen_at", tiertrace.db.UTCDateTime(timezone=True), nullable=True)
        )
    users = sa.table("users", sa.column("notifications_seen_at", tiertrace.db.UTCDateTime(timezone=True)))
    op.execute(users.update().values(notifications_seen_at=datetime.now(UTC) - FORMER_WINDOW))


def downgrade() -> None:
    """Lossy: what each person has seen of the notifications is dropped.

    Upgrading again starts every account at that upgrade's time less 7 days: notifications a person had
    seen within those 7 days count as new to them again, older ones they had not seen count as seen.
    """
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("notifications_seen_at")
