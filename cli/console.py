"""What the reading commands (`tiertrace audit`, `tiertrace chain`) share: whose view, who ran them."""

from __future__ import annotations

import getpass

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from tiertrace.audit.services import console_viewer
from tiertrace.organizations.models import Organization


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
