"""Operator commands: database migrations and organisations."""

from __future__ import annotations

import click

from cli.console import console_session, display_url, domain_failure, migrate_database
from cli.main import main
from tiertrace.errors import TiertraceError
from tiertrace.organizations.models import ORGANIZATION_KINDS
from tiertrace.organizations.services import create_organization


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Migrate the database to the newest schema (alembic upgrade head).

    The database is TIERTRACE_DATABASE_URL, or the SQLite file in TIERTRACE_DATA_DIR; a SQLite file
    that is not there yet is created, with its folder. Safe to run again: an up-to-date database is
    left as it is.
    """
    url = migrate_database()
    click.echo(f"database is at the newest schema: {display_url(url)}", err=True)


@main.group()
def org() -> None:
    """Organisations (the operator's tools)."""


@org.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name, e.g. 'Lumen Compound Semiconductors GmbH'.")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. DE.")
@click.option(
    "--kind",
    type=click.Choice(ORGANIZATION_KINDS),
    default="company",
    show_default=True,
    help="company (suppliers and OEMs), authority (the ministry) or operator (runs the portal).",
)
def org_create(slug: str, name: str, country: str, kind: str) -> None:
    """Register an organisation and print its first API token.

    The token is printed once, alone on the last line of stdout; only a hash is stored, so keep it.
    Writes to TIERTRACE_DATABASE_URL, or the SQLite file in TIERTRACE_DATA_DIR; like `db upgrade`, it
    migrates the database first (creating a new one), since registering the first organisations is how
    a new portal starts.

    Example: tiertrace org create lumen-compound --name "Lumen Compound Semiconductors GmbH" --country DE
    """
    migrate_database()
    try:
        with console_session() as session:
            organization, token = create_organization(
                session, slug=slug, name=name, country=country, kind=kind
            )
            session.commit()
    except TiertraceError as exc:
        raise domain_failure(exc) from exc
    click.echo(
        f"registered {organization.slug} ({organization.kind}, {organization.country}); API token:", err=True
    )
    click.echo(token)
