"""What the commands on the database share: the reading commands' session (`tiertrace audit`,
`tiertrace chain`), whose view, who ran them, and how a database URL is printed."""

from __future__ import annotations

import contextlib
import getpass
import re
from collections.abc import Iterator
from pathlib import Path

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import make_url, select
from sqlalchemy.orm import Session

from migrations import alembic_config
from tiertrace.audit.services import console_viewer
from tiertrace.config import database_url_from_env
from tiertrace.db import make_engine, make_session_factory
from tiertrace.organizations.models import Organization


@contextlib.contextmanager
def console_session() -> Iterator[Session]:
    """A session on the configured database (TIERTRACE_DATABASE_URL, or the SQLite file in
    TIERTRACE_DATA_DIR), its engine disposed afterwards.

    Creates nothing: a missing SQLite file, or a database without the newest schema, stops the command
    saying what to do. A database that cannot be reached is cli.main's business.
    """
    url = database_url_from_env()
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        # Connecting would create an empty file, which later commands would take for a database.
        raise click.ClickException(
            f"no database at {path}; run `tiertrace db upgrade` first, or point TIERTRACE_DATA_DIR "
            "(or TIERTRACE_DATABASE_URL) at an existing one"
        )
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        if current != set(ScriptDirectory.from_config(alembic_config(url)).get_heads()):
            raise click.ClickException(
                f"the database at {display_url(url)} does not have the newest schema; "
                "run `tiertrace db upgrade` first"
            )
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def display_url(url: str) -> str:
    """`url` fit to print: a password in it is masked (user:***@host)."""
    # The user and password end where SQLAlchemy's URL grammar ends them: at ":" / "/" and at "@".
    return re.sub(r"^([\w+.-]+://[^:/@]*):[^@]*@", r"\1:***@", url)


def require_viewer(session: Session, as_slug: str | None, *, authority_only: bool = False) -> Organization:
    """The organisation `--as` names, or without it the authority view of the operator's console.

    Raises click.BadParameter (a usage error) for a slug no organisation has, or with `authority_only`
    for one that is not an authority.
    """
    if not as_slug:
        return console_viewer()
    viewer = session.scalar(select(Organization).where(Organization.slug == as_slug))
    if authority_only and (viewer is None or viewer.kind != "authority"):
        raise click.BadParameter(f"{as_slug!r} is not a registered authority", param_hint="--as")
    if viewer is None:
        raise click.BadParameter(f"no organisation {as_slug!r}", param_hint="--as")
    return viewer


def console_via() -> str:
    """The audit log's `via` for a read from the console: "cli:" and the login of whoever ran it."""
    # A missing login name must not stop the read.
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"
