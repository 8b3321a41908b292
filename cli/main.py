"""Entry point of the `tiertrace` console script."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import exc as sa_exc

from cli.console import display_url, missing_driver
from tiertrace import __version__
from tiertrace.config import ConfigurationError, database_url_from_env


class _Commands(click.Group):
    """The command group; a database that cannot be used stops any command with one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from exc
        # NoSuchModuleError: no SQLAlchemy dialect for the URL's scheme; ModuleNotFoundError: the dialect's
        # driver (DBAPI module) is not installed. Another missing module is a bug and stays a traceback.
        except (sa_exc.NoSuchModuleError, ModuleNotFoundError) as exc:
            url = database_url_from_env()
            reason = missing_driver(url, exc)
            if reason is None:
                raise
            raise _unusable(url, reason) from exc
        # ArgumentError: a URL SQLAlchemy cannot parse; OperationalError: the server, the database, the
        # file or the credentials are not there.
        except (sa_exc.ArgumentError, sa_exc.OperationalError) as exc:
            cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
            raise _unusable(database_url_from_env(), " ".join(str(cause).split())) from exc


def _unusable(url: str, reason: str) -> click.ClickException:
    return click.ClickException(
        f"cannot use the database at {display_url(url)}: {reason}; check TIERTRACE_DATABASE_URL"
    )


@click.group(
    cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="tiertrace")
def main() -> None:
    """tiertrace: signed critical-raw-material declarations, merged up the supply chain.

    Configuration comes from TIERTRACE_* environment variables (TIERTRACE_DATABASE_URL,
    TIERTRACE_AMQP_URL, TIERTRACE_DATA_DIR, TIERTRACE_SECRET_KEY; README.md lists them all); without
    them everything runs embedded, with a SQLite database in ./tiertrace-data.

    `db upgrade`, `org create`, `serve` and `demo` create the database and migrate it to the newest
    schema; every other command that uses it needs it there already, and creates nothing.
    """


def _register() -> None:
    # Each command module adds its commands to `main`; importing them here keeps one registry.
    from cli import admin, audit, chain, demo, serve, signing, users, worker  # noqa: F401  (each module registers its commands)


_register()
