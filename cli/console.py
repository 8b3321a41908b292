"""What the commands on the database share: the session of every command that needs a migrated
database, whose view, who ran them, how a domain error is printed.

Only `tiertrace db upgrade`, `org create`, `serve` and `demo` create or migrate a database; every other
command opens one that is there and at the newest schema, or stops saying what to do.
"""

from __future__ import annotations

import contextlib
import getpass
import json
from collections.abc import Iterator
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

import migrations
from tiertrace.audit.services import console_viewer
from tiertrace.config import database_url_from_env, display_url, missing_database_file, sqlite_file
from tiertrace.db import make_engine, make_session_factory
from tiertrace.errors import TiertraceError
from tiertrace.organizations.models import Organization


@contextlib.contextmanager
def console_session() -> Iterator[Session]:
    """A session on the configured database (TIERTRACE_DATABASE_URL, or the SQLite file in
    TIERTRACE_DATA_DIR), its engine disposed afterwards. The caller commits.

    Creates nothing: a missing SQLite file, or a database without the newest schema, stops the command
    saying what to do. A database that cannot be reached is cli.main's business.
    """
    url = database_url_from_env()
    require_database_file(url)
    try:
        migrations.require_newest(migrations.current(url), display_url(url))
    except migrations.SchemaError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def migrate_database() -> tuple[str | None, str]:
    """Migrate the configured database to the newest schema, creating it (for SQLite: the file and its
    folder) when there is none; returns its revision before (None: no schema yet) and after. What
    `db upgrade`, `org create`, `serve` and `demo` start with.

    A database that a newer release migrated is refused and left as it is. Creates nothing else: they
    read the settings (which write a generated secret key into the data folder) only afterwards, so a
    database that cannot be used leaves no folder behind.
    """
    url = database_url_from_env()
    before = None if missing_database_file(url) else known_revision(url)
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    migrations.upgrade(url)
    return before, migrations.revisions()[-1]


def known_revision(url: str) -> str | None:
    """The revision of the database at `url` (None: no schema yet). Stops (click.ClickException) at a
    revision this release does not know: a newer release migrated the database, which is left as it is."""
    revision = migrations.current(url)
    try:
        migrations.require_known(revision, display_url(url))
    except migrations.UnknownRevisionError as exc:
        raise click.ClickException(str(exc)) from exc
    return revision


def require_database_file(url: str) -> None:
    """Stop (click.ClickException) when `url` names a SQLite file that does not exist; creates nothing."""
    problem = missing_database_file(url)
    if problem is not None:
        raise click.ClickException(problem)


def domain_failure(exc: TiertraceError) -> click.ClickException:
    """A refusal of the core as one line for the terminal: its message, then its details."""
    details = "; ".join(f"{k}: {v}" for k, v in exc.details.items())
    return click.ClickException(f"{exc.message}{' (' + details + ')' if details else ''}")


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


def printable(value: Any) -> str:
    """`value` (text, or any JSON value) for a terminal, with control characters shown as "?": what
    suppliers wrote (payloads, supplier names) must not drive the terminal it is printed on."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "".join(ch if ch.isprintable() else "?" for ch in text)
