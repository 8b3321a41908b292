"""Alembic environment: runs migrations with tiertrace's engine settings (SQLite pragmas included)."""

from __future__ import annotations

from alembic import context

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
    with engine.connect() as connection:
        # render_as_batch: SQLite cannot ALTER most things in place; batch mode copies the table.
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
