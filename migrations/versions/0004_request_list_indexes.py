"""Request lists read in index order: by status and due date, and newest first, for each box

`list_requests` filtered the viewer's requests with (supplier_id, status) or (requester_id, status) and
sorted all of them for every page: an organisation with 20,000 requests paid for 20,000 rows per page
of 100. The two indexes get the due-date order's columns after the status; two new ones serve the
newest-first lists (every status, or one status as a filter on that scan). A page now reads its rows.

On PostgreSQL the indexes are dropped and built in the migration's transaction, which locks
disclosure_requests against reads and writes until it commits: about a second per 200,000 requests on
a 2-core machine. The downgrade swaps the indexes back and loses nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE_DATE_ORDER = ["status", "due_date", "created_at", "id"]


def upgrade() -> None:
    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosure_requests_supplier_status")
        batch_op.drop_index("ix_disclosure_requests_requester_status")
        batch_op.create_index("ix_disclosure_requests_supplier_status_due", ["supplier_id", *DUE_DATE_ORDER])
        batch_op.create_index("ix_disclosure_requests_requester_status_due", ["requester_id", *DUE_DATE_ORDER])
        batch_op.create_index("ix_disclosure_requests_supplier_created", ["supplier_id", "created_at", "id"])
        batch_op.create_index("ix_disclosure_requests_requester_created", ["requester_id", "created_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("disclosure_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosure_requests_requester_created")
        batch_op.drop_index("ix_disclosure_requests_supplier_created")
        batch_op.drop_index("ix_disclosure_requests_requester_status_due")
        batch_op.drop_index("ix_disclosure_requests_supplier_status_due")
        batch_op.create_index("ix_disclosure_requests_requester_status", ["requester_id", "status"])
        batch_op.create_index("ix_disclosure_requests_supplier_status", ["supplier_id", "status"])
