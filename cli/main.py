"""Entry point of the `tiertrace` console script."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import exc as sa_exc

from cli.console import display_url
from tiertrace import __version__
from tiertrace.config import database_url_from_env


class _Commands(click.Group):
    """The command group; a database that cannot be used stops any command with one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        # ArgumentError: a URL SQLAlchemy cannot parse or has no dialect for (NoSuchModuleError);
        # OperationalError: the server, the database, the file or the credentials are not there.
        except (sa_exc.ArgumentError, sa_exc.OperationalError) as exc:
            reason = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
            raise click.ClickException(
                f"cannot use the database at {display_url(database_url_from_env())}: "
                f"{' '.join(str(reason).split())}; check TIERTRACE_DATABASE_URL"
            ) from exc


@click.group(
    cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="tiertrace")
def main() -> None:
    """tiertrace: signed critical-raw-material declarations, merged up the supply chain.

    Configuration comes from TIERTRACE_* environment variables (TIERTRACE_DATABASE_URL,
    TIERTRACE_AMQP_URL, TIERTRACE_DATA_DIR, TIERTRACE_SECRET_KEY); without them everything runs
    embedded, with a SQLite database in ./tiertrace-data.
    """


def _register() -> None:
    # Each command module adds its commands to `main`; importing them here keeps one registry.
    from cli import admin, audit, chain, demo, serve, signing, users, worker  # noqa: F401  (each module registers its commands)


_register()
