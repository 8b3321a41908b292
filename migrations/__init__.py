"""Alembic migrations. Every schema change is a migration that runs on SQLite and PostgreSQL.

`upgrade(url)` is what `tiertrace db upgrade`, `tiertrace serve` and the test harness call;
`current(url)` and `revisions()` say where a database is and where it can go; `require_newest` is what
the commands and the worker check before they use one.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from tiertrace import __version__
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
            return revision_of(connection)
    finally:
        engine.dispose()


def revision_of(connection: Connection) -> str | None:
    """The revision of the database `connection` is on; None for one without tiertrace's schema."""
    return MigrationContext.configure(connection).get_current_revision()


class SchemaError(Exception):
    """The database does not have the newest schema of this release."""


class UnknownRevisionError(SchemaError):
    """The database is at a revision this release does not know: a newer release migrated it, and no
    upgrade of this release can change that."""


def require_known(revision: str | None, database: str) -> None:
    """Raise UnknownRevisionError when `revision` is not one of `revisions()` (None, no schema yet, is
    known). `database` names the database in the message: its URL with the password masked."""
    known = revisions()
    if revision is not None and revision not in known:
        raise UnknownRevisionError(
            f"the database at {database} is at revision {revision}, which this release of tiertrace "
            f"({__version__}, newest revision {known[-1]}) does not know: a newer release migrated it; "
            "run that release"
        )


def require_newest(revision: str | None, database: str) -> None:
    """Raise SchemaError unless `revision` is the newest; UnknownRevisionError for one this release does
    not know (`require_known`)."""
    require_known(revision, database)
    if revision != revisions()[-1]:
        raise SchemaError(
            f"the database at {database} does not have the newest schema; run `tiertrace db upgrade` first"
        )
