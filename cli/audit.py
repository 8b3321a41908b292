"""`tiertrace audit`: the ministry's report for a programme, from the database, as JSON, CSV or XLSX."""

from __future__ import annotations

import getpass
import sys
import time

import click
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from cli.main import main
from tiertrace.audit.exports import FORMATS, export_report
from tiertrace.audit.services import build_report, console_viewer
from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.errors import NotFoundError
from tiertrace.organizations.models import Organization


@main.command("audit")
@click.argument("program")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="json: the report object; csv: one document, a [section] per table; xlsx: one sheet per table.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    show_default=True,
    help="File to write; - writes to stdout (xlsx only when stdout is not a terminal).",
)
@click.option(
    "--as",
    "as_slug",
    metavar="SLUG",
    help="Log the read for this authority organisation (default: the operator's console).",
)
def audit(program: str, fmt: str, out: str, as_slug: str | None) -> None:
    """The ministry's completeness and risk report for PROGRAM, read from the database.

    Runs as the authority view (every supplier identity is in it) on TIERTRACE_DATABASE_URL, or the
    SQLite file in TIERTRACE_DATA_DIR, and writes an audit-log entry for the read. Progress goes to
    stderr.

    \b
    Examples:
      tiertrace audit ZEEHAVIK --format xlsx --out zeehavik-audit.xlsx
      tiertrace audit ZEEHAVIK --format csv --out zeehavik-audit.csv
      tiertrace audit ZEEHAVIK | jq .summary
    """
    if fmt == "xlsx" and out == "-" and sys.stdout.isatty():
        raise click.UsageError("an XLSX workbook is binary: give --out FILE (or redirect stdout)")
    started = time.monotonic()

    def progress(message: str) -> None:
        click.echo(f"[{time.monotonic() - started:5.1f} s] {message}", err=True)

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            if as_slug:
                viewer = session.scalar(select(Organization).where(Organization.slug == as_slug))
                if viewer is None or viewer.kind != "authority":
                    raise click.BadParameter(f"{as_slug!r} is not a registered authority", param_hint="--as")
            else:
                viewer = console_viewer()
            progress(f"building the audit report of {program}")
            report = build_report(session, program, viewer, via=f"cli:{_user()}", progress=progress)
            session.commit()
    except NotFoundError as exc:
        raise click.ClickException(f"no programme {program!r}: no current declaration carries it") from exc
    except sa_exc.OperationalError as exc:
        raise click.ClickException(
            f"the database is not ready ({exc.orig}); run `tiertrace db upgrade` first"
        ) from exc
    finally:
        engine.dispose()
    exported = export_report(report, fmt)
    if out == "-":
        click.echo(exported.content, nl=False)  # bytes go to the binary stream underneath stdout
    else:
        with open(out, "wb") as handle:
            handle.write(exported.content)
    where = "stdout" if out == "-" else out
    progress(f"wrote {where} ({fmt}, {len(exported.content):,} bytes)")


def _user() -> str:
    # Who ran the tool goes into the audit log; a missing login name must not stop the report.
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
