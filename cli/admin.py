"""Operator commands: database migrations, rebuilding the rollups, and organisations."""

from __future__ import annotations

import time
from typing import Any

import click

import migrations
from cli.console import (
    console_session,
    domain_failure,
    known_revision,
    migrate_database,
    printable,
    require_database_file,
)
from cli.main import main
from schemas.api import SupplierToOnboardPageSchema, SupplierToOnboardSchema
from tiertrace.chains.services import rebuild_all, remove_superseded_rollups
from tiertrace.config import database_url_from_env, display_url
from tiertrace.errors import TiertraceError
from tiertrace.exports import Table, to_csv, to_json
from tiertrace.organizations.models import ORGANIZATION_KINDS
from tiertrace.organizations.onboarding import SupplierToOnboard, suppliers_to_onboard
from tiertrace.organizations.services import create_organization


@main.group()
def db() -> None:
    """Database maintenance: the schema's revision, migrating to the newest, rebuilding the rollups."""


@db.command()
def upgrade() -> None:
    """Migrate the database to the newest schema (alembic upgrade head) and say from which revision.

    The database is TIERTRACE_DATABASE_URL, or the SQLite file in TIERTRACE_DATA_DIR; a SQLite file
    that is not there yet is created, with its folder. Safe to run again: an up-to-date database is
    left as it is. A database that a newer release migrated is refused, and left as it is.
    """
    before, after = migrate_database()
    url = display_url(database_url_from_env())
    if before == after:
        click.echo(f"database at revision {after}, the newest; nothing to do: {url}", err=True)
    else:
        start = f"revision {before}" if before else "an empty database"
        click.echo(f"database migrated from {start} to revision {after}, the newest: {url}", err=True)


@db.command()
def current() -> None:
    """Print the database's schema revision, and the newest this release knows.

    One line on stdout, the revision first ("none" for a database without tiertrace's schema). Exits
    with 0 when the database is at the newest revision and 1 otherwise. Creates nothing: a SQLite file
    that is not there is an error.
    """
    url = database_url_from_env()
    require_database_file(url)
    revision, newest = known_revision(url), migrations.revisions()[-1]
    if revision == newest:
        click.echo(f"{revision} (the newest)")
        return
    click.echo(f"{revision or 'none'} (the newest is {newest}: run `tiertrace db upgrade`)")
    raise SystemExit(1)


@db.command("rebuild-rollups")
def rebuild_rollups() -> None:
    """Recompute the rollup (the merged chain figures) of every current declaration from the declarations.

    The merge consumer keeps the rollups current by itself. Run this after an upgrade whose release
    notes say that the merge rules or the rollup format changed, to repair rows an older release wrote
    (such as SQLite rows holding NaN or Infinity, from before a figure out of range was stored as null:
    they are replaced, never read), or after a restore that lost bus messages. It also deletes the
    rows of superseded declarations, which nothing reads. One transaction: stopped halfway, it changes
    nothing.

    Safe while the portal and the workers run. On PostgreSQL the merge consumers wait for it (the
    rollup lock) and catch up afterwards; chain views read the old rows until it commits. On SQLite it
    is the database's one writer until it is done, so every write of the portal waits for it, and
    answers 503 after 30 s: on a large database (it took a minute for 25,000 declarations), run it
    while the portal is stopped.

    Progress goes to stderr, then one line: how many rollups, how many rows of superseded declarations
    were removed, how long it took. Memory grows with the chain graph, about 0.5 KB per current
    declaration plus 10 bytes per component line, not with the figures: 154 MB in all for 24,765
    declarations. Needs the database at the newest schema (see `tiertrace db upgrade`); creates nothing.
    """
    started = time.monotonic()
    shown = started

    def progress(done: int, total: int) -> None:
        nonlocal shown
        now = time.monotonic()
        if now - shown >= 1:  # a large database has dozens of batches: a line a second at most
            shown = now
            click.echo(f"[{now - started:5.1f} s] {done:,} of {total:,} rollups rebuilt", err=True)

    url = display_url(database_url_from_env())
    with console_session() as session:
        click.echo(f"[  0.0 s] rebuilding the rollups of {url}", err=True)
        removed = remove_superseded_rollups(session)
        rebuilt = rebuild_all(session, progress=progress)
        session.commit()
    click.echo(
        f"rebuilt {rebuilt:,} rollups (every current declaration) and removed {removed:,} of superseded "
        f"declarations in {time.monotonic() - started:.1f} s: {url}",
        err=True,
    )


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
    migrates the database first (creating a SQLite file that is not there yet), since registering the
    first organisations is how a new portal starts.

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


@org.command("onboarding")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "csv", "json")),
    default="table",
    show_default=True,
    help="table: aligned text; csv: one [suppliers_to_onboard] section (a spreadsheet runs no formula "
    'from it); json: the API\'s answer, {"items": [...], "next": null}.',
)
def org_onboarding(fmt: str) -> None:
    """List the organisations to onboard: suppliers that current declarations name by name and country
    because they are not on the portal, most named first.

    Per supplier: its name (the spelling most declarations use; names differing only in letter case
    or extra spaces are one supplier), its country, how many current declarations and how many
    organisations name it, and when it was first and last named. Nothing says which organisations
    named it or for which parts. "registered as SLUG" marks a registered company with the same name
    and country: the declaring organisations still have to file new versions naming that slug (their
    chains show an unknown supplier until then); the entry leaves the list once they have. Register
    the others with `tiertrace org create`.

    Reads TIERTRACE_DATABASE_URL, or the SQLite file in TIERTRACE_DATA_DIR (at the newest schema: see
    `tiertrace db upgrade`); changes nothing.

    \b
    Examples:
      tiertrace org onboarding
      tiertrace org onboarding --format csv > to-onboard.csv
    """
    with console_session() as session:
        listed = suppliers_to_onboard(session)
    page = SupplierToOnboardPageSchema().dump({"items": listed, "next": None})
    if fmt == "json":
        click.echo(to_json(page))
    elif fmt == "csv":
        click.echo(to_csv([_onboarding_table(page)]), nl=False)
    elif listed:
        click.echo(_onboarding_text(listed))
    else:
        click.echo(
            "nothing to onboard: no current declaration names a supplier that is not on the portal", err=True
        )


def _onboarding_table(page: dict[str, Any]) -> Table:
    """The API's answer (`SupplierToOnboardPageSchema`) as one table, its columns the schema's fields."""
    columns = tuple(SupplierToOnboardSchema().fields)
    return Table("suppliers_to_onboard", columns, [tuple(item[c] for c in columns) for item in page["items"]])


def _onboarding_text(listed: list[SupplierToOnboard]) -> str:
    """The list as aligned columns, counts right-aligned, dates as days."""
    rows = [("supplier", "country", "declarations", "organisations", "first named", "last named", "status")]
    rows += [
        (
            printable(s.name),
            s.country or "?",
            str(s.declarations),
            str(s.organizations),
            f"{s.first_named_at:%Y-%m-%d}",
            f"{s.last_named_at:%Y-%m-%d}",
            f"registered as {s.registered_as}" if s.registered_as else "to onboard",
        )
        for s in listed
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in (2, 3) else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )
