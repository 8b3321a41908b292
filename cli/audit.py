"""`tiertrace audit`: the ministry's report for a programme, from the database, as JSON, CSV or XLSX."""

from __future__ import annotations

import sys
import time

import click

from cli.console import console_session, console_via, require_viewer
from cli.main import main
from tiertrace.audit.exports import export_report
from tiertrace.audit.services import build_report
from tiertrace.db import begin_snapshot
from tiertrace.errors import NotFoundError
from tiertrace.exports import FORMATS


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

    try:
        with console_session() as session:
            viewer = require_viewer(session, as_slug, authority_only=True)
            progress(f"building the audit report of {program}")
            begin_snapshot(session)  # every chain of the report as of one committed state
            report = build_report(session, program, viewer, via=console_via(), progress=progress)
            session.commit()
    except NotFoundError as exc:
        raise click.ClickException(f"no programme {program!r}: no current declaration carries it") from exc
    exported = export_report(report, fmt)
    if out == "-":
        click.echo(exported.content, nl=False)  # bytes go to the binary stream underneath stdout
    else:
        try:
            with open(out, "wb") as handle:
                handle.write(exported.content)
        except OSError as exc:
            raise click.ClickException(
                f"cannot write {out}: {exc.strerror or exc}. "
                "Choose a --out path in a folder you can write to."
            ) from exc
    where = "stdout" if out == "-" else out
    progress(f"wrote {where} ({fmt}, {len(exported.content):,} bytes)")
