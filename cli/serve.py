"""`tiertrace serve`: the portal under gunicorn, with the bus in-process in the embedded mode."""

from __future__ import annotations

import os
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from cli.console import migrate_database
from cli.main import main
from tiertrace.config import Settings
from tiertrace.db import start_sqlite_checkpointer


class _PortalServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn configured in code, so `tiertrace serve` needs no config file."""

    def __init__(self, settings: Settings, options: dict[str, Any]):
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from portal import create_app

        return create_app(self.settings)


def _start_embedded_bus(settings: Settings) -> Any:
    from tiertrace.db import make_engine, make_session_factory
    from worker.embedded import start_embedded_bus

    return start_embedded_bus(settings, make_session_factory(make_engine(settings.database_url)))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on."
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Gunicorn worker processes. Embedded mode always uses 1 (SQLite and the in-process bus "
    "live in one process); with TIERTRACE_AMQP_URL the default is 2.",
)
@click.option(
    "--threads", default=8, show_default=True, type=click.IntRange(min=1), help="Threads per worker process."
)
def serve(host: str, port: int, workers: int | None, threads: int) -> None:
    """Run the portal (API v1 and web pages) under gunicorn.

    Migrates the database first (TIERTRACE_DATABASE_URL, or the SQLite file in TIERTRACE_DATA_DIR,
    which is created when there is none). Without TIERTRACE_AMQP_URL the bus runs in-process (embedded
    mode: no other server needed); with it, run `tiertrace worker` beside it. Web sessions are signed
    with TIERTRACE_SECRET_KEY, or else with a key generated once into TIERTRACE_DATA_DIR/secret_key.
    """
    migrate_database()
    settings = Settings.from_env()
    if settings.embedded:
        if workers not in (None, 1):
            click.echo(f"embedded mode (no TIERTRACE_AMQP_URL): 1 worker process, not {workers}", err=True)
        workers = 1
    background: list[Any] = []  # threads of the serving process, stopped when it exits

    def post_worker_init(_worker: Any) -> None:
        # These threads must live in the process that serves requests, so they start after the fork.
        # SQLite's WAL checkpoints, off the request path (None for PostgreSQL).
        checkpointer = start_sqlite_checkpointer(settings.database_url)
        if checkpointer is not None:
            background.append(checkpointer)
        if settings.embedded:
            background.append(_start_embedded_bus(settings))

    def worker_exit(_server: Any, _worker: Any) -> None:
        for running in reversed(background):  # the bus before the checkpointer it writes through
            running.stop()

    if not settings.embedded and not os.environ.get("TIERTRACE_SECRET_KEY"):
        click.echo(
            f"warning: TIERTRACE_SECRET_KEY is not set; web sessions are signed with the key generated in "
            f"{settings.data_dir / 'secret_key'}, so portals on other hosts will not accept them: set the "
            "same long random TIERTRACE_SECRET_KEY on every portal",
            err=True,
        )
    click.echo(
        f"tiertrace portal on http://{host}:{port}/ "
        f"({'embedded bus' if settings.embedded else 'RabbitMQ bus: run tiertrace worker too'})",
        err=True,
    )
    _PortalServer(
        settings,
        {
            "bind": f"{host}:{port}",
            "workers": workers or 2,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": "-",
            "post_worker_init": post_worker_init,
            "worker_exit": worker_exit,
            "graceful_timeout": 20,
            # gunicorn's control socket has one path per user (~/.gunicorn/gunicorn.ctl): a second portal
            # on the host took it over, and the first one to stop deleted it. tiertrace does not use it.
            "control_socket_disable": True,
        },
    ).run()
