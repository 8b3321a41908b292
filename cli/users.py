"""Operator commands for people's web accounts: create one with an invitation link, send a new link."""

from __future__ import annotations

from collections.abc import Callable

import click
from sqlalchemy.orm import Session

from cli.console import console_session, domain_failure
from cli.main import main
from tiertrace.config import DEFAULT_BASE_URL, base_url_from_env
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
    person: they choose their password on that page. Writes to TIERTRACE_DATABASE_URL, or the SQLite
    file in TIERTRACE_DATA_DIR (migrated: see `tiertrace db upgrade`).

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
    click.echo(invite_link(base_url or base_url_from_env(), invitation.token))


@user.command("invite")
@click.argument("email")
@_base_url_option
def user_invite(email: str, base_url: str | None) -> None:
    """Print a new one-time link for EMAIL's account (a lost invitation, or a password reset).

    The previous link stops working; the current password keeps working until the new link is used.
    The link is printed alone on the last line of stdout. Writes to TIERTRACE_DATABASE_URL, or the
    SQLite file in TIERTRACE_DATA_DIR.
    """
    invitation = _run(lambda session: reissue_invite(session, email))
    click.echo(f"new invitation link for {invitation.user.email}:", err=True)
    click.echo(invite_link(base_url or base_url_from_env(), invitation.token))


def invite_link(base_url: str, token: str) -> str:
    """The invitation page's URL under `base_url`."""
    return f"{base_url.rstrip('/')}/invite/{token}"


def _run(action: Callable[[Session], Invitation]) -> Invitation:
    """`action` in one transaction on the migrated database, committed; a refusal as one line."""
    try:
        with console_session() as session:
            invitation = action(session)
            session.commit()
            return invitation
    except TiertraceError as exc:
        raise domain_failure(exc) from exc
