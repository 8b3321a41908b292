"""Entry point of the `tiertrace` console script."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import exc as sa_exc

from tiertrace import __version__
from tiertrace.config import ConfigurationError, database_url_from_env, unusable_database


class _Commands(click.Group):
    """The command group; a database that cannot be used stops any command with one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from exc
        # A URL SQLAlchemy cannot parse, no dialect or driver for it; a server, database, file or credentials
        # that are not there. Another missing module is a bug and stays a traceback.
        except (sa_exc.SQLAlchemyError, ModuleNotFoundError) as exc:
            message = unusable_database(database_url_from_env(), exc)
            if message is None:
                raise
            raise click.ClickException(message) from exc


@click.group(
    cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="tiertrace")
def main() -> None:
    """tiertrace: signed critical-raw-material declarations, merged up the supply chain.

    Configuration comes from TIERTRACE_* environment variables (TIERTRACE_DATABASE_URL,
    TIERTRACE_AMQP_URL, TIERTRACE_DATA_DIR, TIERTRACE_SECRET_KEY; README.md lists them all); without
    them everything runs embedded, with a SQLite database in ./tiertrace-data.

    `db upgrade`, `org create`, `serve` and `demo` migrate the database to the newest schema (a SQLite
    file is created; a PostgreSQL database must exist); every other command that uses it needs it there
    already, and creates nothing.
    """


def _register() -> None:
    # Each command module adds its commands to `main`; importing them here keeps one registry.
    from cli import admin, audit, chain, demo, serve, signing, users, worker  # noqa: F401  (each module registers its commands)


_register()
