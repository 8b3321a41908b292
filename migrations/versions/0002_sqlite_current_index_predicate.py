"""SQLite: the one-current-version index says "is_current = 1", the form SQLAlchemy queries use

SQLite uses a partial index only when the query repeats the index's WHERE term, and SQLAlchemy
writes a boolean column as "is_current = 1" on SQLite: with the index saying "WHERE is_current",
every lookup of a current version scanned all of the issuer's declarations. PostgreSQL proves
"is_current = true" implies "is_current" by itself; its index is unchanged.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recreate(predicate: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("uq_declarations_current_part", table_name="declarations")
    op.create_index(
        "uq_declarations_current_part",
        "declarations",
        ["issuer_id", "part_number"],
        unique=True,
        sqlite_where=sa.text(predicate),
    )


def upgrade() -> None:
    _recreate("is_current = 1")


def downgrade() -> None:
    _recreate("is_current")
