"""Operator commands for people's web accounts: create one with an invitation link, send a new link."""

from __future__ import annotations

from collections.abc import Callable

import click
from sqlalchemy.orm import Session

from cli.main import main
from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.errors import TiertraceError
from tiertrace.organizations.accounts import Invitation, create_user, reissue_invite
from tiertrace.organizations.services import require_organization

DEFAULT_BASE_URL = "http://127.0.0.1:8000"

_base_url_option = click.option(
    "--base-url",
    envvar="TIERTRACE_BASE_URL",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="Where people reach the portal (env TIERTRACE_BASE_URL); the link starts with it.",
)


@main.group()
def user() -> None:
    """People's web accounts (the operator's tools)."""


@user.command("create")
@click.argument("org_slug")
@click.argument("email")
@_base_url_option
def user_create(org_slug: str, email: str, base_url: str) -> None:
    """Create a web account of ORG_SLUG for EMAIL and print its one-time invitation link.

    The link is printed alone on the last line of stdout; it works once, for 7 days. Send it to the
    person: they choose their password on that page.

    Example: tiertrace user create lumen-compound anna@lumen.example --base-url https://tiertrace.example
    """

    def make(session: Session) -> Invitation:
        return create_user(session, require_organization(session, org_slug), email)

    invitation = _run(make)
    click.echo(
        f"created {invitation.user.email} for {org_slug}; invitation link "
        f"(valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):",
        err=True,
    )
    click.echo(invite_link(base_url, invitation.token))


@user.command("invite")
@click.argument("email")
@_base_url_option
def user_invite(email: str, base_url: str) -> None:
    """Print a new one-time link for EMAIL's account (a lost invitation, or a password reset).

    The previous link stops working; the current password keeps working until the new link is used.
    """
    invitation = _run(lambda session: reissue_invite(session, email))
    click.echo(f"new invitation link for {invitation.user.email}:", err=True)
    click.echo(invite_link(base_url, invitation.token))


def invite_link(base_url: str, token: str) -> str:
    """The invitation page's URL under `base_url`."""
    return f"{base_url.rstrip('/')}/invite/{token}"


def _run(action: Callable[[Session], Invitation]) -> Invitation:
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            invitation = action(session)
            session.commit()
            return invitation
    except TiertraceError as exc:
        details = "; ".join(f"{k}: {v}" for k, v in exc.details.items())
        raise click.ClickException(f"{exc.message}{' (' + details + ')' if details else ''}") from exc
    finally:
        engine.dispose()
