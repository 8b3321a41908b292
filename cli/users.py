"""Operator commands for people's web accounts: create one with an invitation link, send a new link."""

from __future__ import annotations

from collections.abc import Callable

import click
from sqlalchemy.orm import Session

from cli.main import main
from tiertrace.config import DEFAULT_BASE_URL, Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.errors import TiertraceError
from tiertrace.organizations.accounts import Invitation, create_user, reissue_invite
from tiertrace.organizations.services import require_organization

_base_url_option = click.option(
    "--base-url",
    show_default=f"TIERTRACE_BASE_URL, else {DEFAULT_BASE_URL}",
    help="Where people reach the portal; the link starts with it.",
)


@main.group()
def user() -> None:
    """People's web accounts (the operator's tools)."""


@user.command("create")
@click.argument("org_slug")
@click.argument("email")
@_base_url_option
def user_create(org_slug: str, email: str, base_url: str | None) -> None:
    """Create a web account of ORG_SLUG for EMAIL and print its one-time invitation link.

    The link is printed alone on the last line of stdout; it works once, for 7 days. Send it to the
    person: they choose their password on that page.

    Example: tiertrace user create lumen-compound anna@lumen.example --base-url https://tiertrace.example
    """

    def make(session: Session) -> Invitation:
        return create_user(session, require_organization(session, org_slug), email)

    settings = Settings.from_env()
    invitation = _run(settings, make)
    click.echo(
        f"created {invitation.user.email} for {org_slug}; invitation link "
        f"(valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):",
        err=True,
    )
    click.echo(invite_link(base_url or settings.base_url, invitation.token))


@user.command("invite")
@click.argument("email")
@_base_url_option
def user_invite(email: str, base_url: str | None) -> None:
    """Print a new one-time link for EMAIL's account (a lost invitation, or a password reset).

    The previous link stops working; the current password keeps working until the new link is used.
    """
    settings = Settings.from_env()
    invitation = _run(settings, lambda session: reissue_invite(session, email))
    click.echo(f"new invitation link for {invitation.user.email}:", err=True)
    click.echo(invite_link(base_url or settings.base_url, invitation.token))


def invite_link(base_url: str, token: str) -> str:
    """The invitation page's URL under `base_url`."""
    return f"{base_url.rstrip('/')}/invite/{token}"


def _run(settings: Settings, action: Callable[[Session], Invitation]) -> Invitation:
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
