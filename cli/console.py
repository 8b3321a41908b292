"""What the reading commands (`tiertrace audit`, `tiertrace chain`) share: the database, whose view,
who ran them."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator

import click
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from tiertrace.audit.services import console_viewer
from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.organizations.models import Organization


@contextlib.contextmanager
def console_session() -> Iterator[Session]:
    """A session on the configured database (TIERTRACE_DATABASE_URL, or the SQLite file in
    TIERTRACE_DATA_DIR), its engine disposed afterwards. A database without the schema stops the
    command saying to run `tiertrace db upgrade`."""
    engine = make_engine(Settings.from_env().database_url)
    try:
        with make_session_factory(engine)() as session:
            yield session
    except sa_exc.OperationalError as exc:
        raise click.ClickException(
            f"the database is not ready ({exc.orig}); run `tiertrace db upgrade` first"
        ) from exc
    finally:
        engine.dispose()


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
