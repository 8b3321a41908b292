"""Every disclosure request has a due date: disclosure_requests.due_date NOT NULL

Every way tiertrace makes a request has always given it one: `create_request` (API, web form, demo
loader) the date the requester chose or 42 days (`default_due_days`) from the day it is made, and
propagation a forwarded request its parent's date less `tier_margin_days`, or 42 days from the day when
it has no parent. A NULL can only have come from outside tiertrace (SQL by hand). The upgrade gives such
a request the date it would have got: 42 days after the day (UTC) it was created. An open one whose new
date has passed becomes overdue at the next sweep, and is reminded and escalated like any other.

NOT NULL lets the request lists in the due-date order start a later page where its cursor is in the
indexes of 0004, as the newest-first lists do, instead of reading them from the box's first request on.

PostgreSQL checks every row for a NULL while disclosure_requests is locked against reads and writes
(0.1 s per 200,000 requests on a 2-core machine); SQLite copies the table (batch mode, 3 s per
200,000). The downgrade makes the column nullable again and loses nothing: the dates the upgrade gave
stay.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tiertrace.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The days a request without a due date is given from the day it was created: the default of
#: `default_due_days` (TIERTRACE_DEFAULT_DUE_DAYS) at this revision.
DEFAULT_DUE_DAYS = 42


def upgrade() -> None:
    requests = sa.table(
        "disclosure_requests",
        sa.column("due_date", sa.Date()),
        sa.column("created_at", tiertrace.db.UTCDateTime(timezone=True)),
    )
    # The day (UTC) of created_at, plus the days. SQLite stores created_at as UTC text without a zone.
    if op.get_context().dialect.name == "sqlite":
        due = sa.func.date(requests.c.created_at, f"+{DEFAULT_DUE_DAYS} days")
    else:
        due = sa.cast(sa.func.timezone("UTC", requests.c.created_at), sa.Date) + DEFAULT_DUE_DAYS
    op.execute(requests.update().where(requests.c.due_date.is_(None)).values(due_date=due))
    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.alter_column("due_date", existing_type=sa.Date(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.alter_column("due_date", existing_type=sa.Date(), nullable=True)
