"""Alembic migrations. Every schema change is a migration that runs on SQLite and PostgreSQL.

`upgrade(url)` is what `tiertrace db upgrade`, `tiertrace serve` and the test harness call;
`current(url)` and `revisions()` say where a database is and where it can go.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tiertrace.db import make_engine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An alembic Config for `url` that works from a source checkout and from an installed package."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    # "%" is alembic's interpolation character; a password may contain one.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` to `revision` (default: the newest)."""
    command.upgrade(alembic_config(url), revision)


def revisions() -> list[str]:
    """Every revision this release knows, the oldest first; the last one is the newest schema."""
    script = ScriptDirectory(str(HERE))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def current(url: str) -> str | None:
    """The revision of the database at `url`; None for a database without tiertrace's schema.

    Connects, which creates a SQLite file that is not there: a caller that must not create one checks first.
    """
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
