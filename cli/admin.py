"""Operator commands: database migrations and organisations."""

from __future__ import annotations

import click
from sqlalchemy import inspect

import migrations
from cli.console import display_url
from cli.main import main
from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.errors import TiertraceError
from tiertrace.organizations.models import ORGANIZATION_KINDS
from tiertrace.organizations.services import create_organization


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command()
def upgrade() -> None:
    """Migrate the database to the newest schema (alembic upgrade head).

    The database is TIERTRACE_DATABASE_URL, or the SQLite file in TIERTRACE_DATA_DIR.
    Safe to run again: an up-to-date database is left as it is.
    """
    settings = Settings.from_env()
    migrations.upgrade(settings.database_url)
    click.echo(f"database is at the newest schema: {display_url(settings.database_url)}", err=True)


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
    A database without the schema yet (a fresh TIERTRACE_DATA_DIR) is migrated first.

    Example: tiertrace org create lumen-compound --name "Lumen Compound Semiconductors GmbH" --country DE
    """
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    if "organizations" not in inspect(engine).get_table_names():
        # A fresh database (the embedded mode's first command): give it the schema first. One that has it
        # is left alone; its upgrades are `tiertrace db upgrade`'s business.
        migrations.upgrade(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            organization, token = create_organization(
                session, slug=slug, name=name, country=country, kind=kind
            )
            session.commit()
    except TiertraceError as exc:
        details = "; ".join(f"{k}: {v}" for k, v in exc.details.items())
        raise click.ClickException(f"{exc.message}{' (' + details + ')' if details else ''}") from exc
    finally:
        engine.dispose()
    click.echo(
        f"registered {organization.slug} ({organization.kind}, {organization.country}); API token:", err=True
    )
    click.echo(token)
