"""One notification per request, organisation and kind: a unique index, which is also request_id's index

Each kind of notification is sent once per request: "request.created" to the supplier when the request
is made, "reminder" to it and "escalation" to the requester once each (the sweep sets the request's
reminded_at and escalated_at, which nothing clears). Nothing in the schema kept a second one out: the
notify consumer inserts the supplier's "request.created" when its query finds none, which two
transactions at once can both do. The unique index (request_id, organization_id, kind) makes the
database refuse the second, and the inserts skip it (ON CONFLICT DO NOTHING). Led by request_id, it is
also the index that notifications lacked for that foreign key. Notifications about no request are not
limited (NULLs are distinct on both databases); tiertrace writes none.

The upgrade first deletes the duplicates there are, keeping one per (request, organisation, kind) with
its whole row, for its id is the delivery id (X-Tiertrace-Delivery) its receiver may have recorded:

1. a delivered one (the earliest delivered): the receiver has it; the others were its repeats;
2. else one whose webhook POST is pending (next_attempt_at set): deleting it would drop that delivery;
3. else the oldest (created_at, then id): the first one made.

A duplicate's other columns are copies of the same request's data. Finding the duplicates reads every
notification, and PostgreSQL builds the index while notifications is locked against writes: with
200,000 notifications on the 2-core machine (busy with other work), 1.5 s and then 1.2 s of lock;
SQLite, which holds its one write lock throughout, 3 s in all. The downgrade drops the index and loses
nothing; the duplicates the upgrade deleted do not come back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tiertrace.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ["request_id", "organization_id", "kind"]


def upgrade() -> None:
    notifications = sa.table(
        "notifications",
        sa.column("id", sa.String()),
        *(sa.column(name) for name in KEY),
        sa.column("created_at", tiertrace.db.UTCDateTime(timezone=True)),
        sa.column("delivered_at", tiertrace.db.UTCDateTime(timezone=True)),
        sa.column("next_attempt_at", tiertrace.db.UTCDateTime(timezone=True)),
    )
    c = notifications.c
    # The one to keep ranks first in its group (see the module docstring). "IS NULL" sorts false first on
    # both databases; it also keeps them from disagreeing on where NULLs sort.
    rank = sa.func.row_number().over(
        partition_by=[c[name] for name in KEY],
        order_by=[c.delivered_at.is_(None), c.delivered_at, c.next_attempt_at.is_(None), c.created_at, c.id],
    )
    ranked = sa.select(c.id, rank.label("rank")).where(c.request_id.is_not(None)).subquery()
    op.execute(notifications.delete().where(c.id.in_(sa.select(ranked.c.id).where(ranked.c.rank > 1))))
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("uq_notifications_request_organization_kind", KEY, unique=True)


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("uq_notifications_request_organization_kind")
