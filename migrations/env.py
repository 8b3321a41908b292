"""Alembic environment: runs migrations with tiertrace's engine settings (SQLite pragmas included)."""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event

import tiertrace.models
from tiertrace.config import Settings
from tiertrace.db import make_engine

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
target_metadata = tiertrace.models.Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url, pool=False)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        # Batch mode copies a table and drops the old one, which fails while rows of other tables point
        # at it and foreign keys are enforced; SQLite turns them off only outside a transaction. So the
        # migrations run without, and each one's keys are checked before its commit (SQLite's procedure
        # for "other kinds of table schema changes").
        event.listen(engine, "connect", _without_foreign_keys)
    with engine.connect() as connection:
        # render_as_batch: SQLite cannot ALTER most things in place; batch mode copies the table.
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
            on_version_apply=[_check_foreign_keys] if sqlite else [],
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def _without_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # after tiertrace.db's "connect" turned them on


def _check_foreign_keys(*, ctx: MigrationContext, step: Any, **_: Any) -> None:
    """Raise RuntimeError, which rolls the migration back, when it leaves a row pointing at none."""
    assert ctx.connection is not None
    broken = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        rows = "; ".join(f"{table} row {rowid} -> {parent}" for table, rowid, parent, _ in broken[:10])
        raise RuntimeError(
            f"migration {step.up_revision_id} left {len(broken)} rows whose foreign key points nowhere: "
            + rows
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
