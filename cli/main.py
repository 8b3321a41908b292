"""Entry point of the `tiertrace` console script."""

from __future__ import annotations

import click

from tiertrace import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
