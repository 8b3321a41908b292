"""The worker's command line, one definition for `tiertrace worker` and `python -m worker`.

`tiertrace worker` runs it inside the `tiertrace` group, `python -m worker` on its own: every check and
message is here, none in the group (cli/main.py), so that both stop alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from tiertrace.config import (
    ConfigurationError,
    Settings,
    database_url_from_env,
    missing_database_file,
    unusable_database_url,
)
from worker.health import DEFAULT_MAX_AGE, WRITE_INTERVAL, check_health_file
from worker.process import ALL_CONSUMERS, configure_logging, run_worker
from worker.rabbitmq import DEFAULT_PREFETCH, amqp_url_problem


# The `tiertrace` group's settings (cli/main.py), which `python -m worker` runs without: -h, and as wide.
@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--consumers",
    default=",".join(ALL_CONSUMERS),
    show_default=True,
    help="Comma-separated consumers to run in this process; empty for none.",
)
@click.option(
    "--relay/--no-relay", default=True, show_default=True, help="Publish outbox rows from this process."
)
@click.option(
    "--webhooks/--no-webhooks",
    default=True,
    show_default=True,
    help="POST queued webhook notifications from here.",
)
# At least 1: RabbitMQ reads a prefetch of 0 as "no limit", and a concurrency of 0 starts no handler thread.
@click.option(
    "--prefetch",
    default=DEFAULT_PREFETCH,
    show_default=True,
    type=click.IntRange(min=1),
    help="Unacknowledged deliveries per consumer.",
)
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Handler threads per consumer.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="How much to log on stderr.",
)
@click.option(
    "--health-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TIERTRACE_WORKER_HEALTH_FILE",
    show_envvar=True,
    help=f"Keep the worker's status in this file (rewritten every {WRITE_INTERVAL:g} s and on each change), "
    "for --check.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Start nothing: read the --health-file of a running worker, say in one line whether it is "
    "healthy, and exit 0 if it is, 1 if not.",
)
@click.option(
    "--max-age",
    default=DEFAULT_MAX_AGE,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="With --check: seconds after which an unchanged health file, or a relay that finished no "
    "pass, means a dead or hung worker.",
)
def worker(
    consumers: str,
    relay: bool,
    webhooks: bool,
    prefetch: int,
    concurrency: int,
    log_level: str,
    health_file: Path | None,
    check: bool,
    max_age: float,
) -> None:
    """Run the bus: the outbox relay, the consumers and the webhook sender, against RabbitMQ.

    Needs TIERTRACE_AMQP_URL and the portal's database: TIERTRACE_DATABASE_URL (PostgreSQL in a
    scale-out deployment), else the SQLite file in TIERTRACE_DATA_DIR. TIERTRACE_BUS_PREFIX prefixes the
    exchange and queue names. Waits, one line per try, until the database answers with the newest
    schema (`tiertrace serve` and `tiertrace db upgrade` migrate it), then until the broker answers;
    declares the exchange and queues, reconnects after a broker restart, and on SIGTERM finishes the
    messages in hand and exits with status 0 (at once while it waits). Several workers may run at once.

    Exits with status 2 without TIERTRACE_AMQP_URL: the bus then runs inside `tiertrace serve`
    (embedded mode). Exits with status 1, in one line, for a TIERTRACE_* value or database URL it
    cannot use, a SQLite file that is not there, a database that a newer release migrated, or a queue
    that exists with other arguments.

    Healthy (--check) means: the health file was written within --max-age seconds, the worker is
    running (not waiting for the database or the broker, nor stopping), every consumer is connected
    to the broker, and the relay's publisher is connected and finished a pass within --max-age.
    """
    if check:
        if health_file is None:
            raise click.UsageError("--check needs --health-file or TIERTRACE_WORKER_HEALTH_FILE")
        healthy, line = check_health_file(health_file, max_age=max_age)
        click.echo(f"{'healthy' if healthy else 'unhealthy'}: {line}", err=not healthy)
        raise SystemExit(0 if healthy else 1)
    if health_file is not None and not health_file.parent.is_dir():
        raise click.BadParameter(
            f"the folder {health_file.parent} does not exist", param_hint="--health-file"
        )
    names = [name for name in consumers.split(",") if name]
    unknown = set(names) - set(ALL_CONSUMERS)
    if unknown:
        raise click.BadParameter(f"unknown consumers: {', '.join(sorted(unknown))}", param_hint="--consumers")
    # First: without a broker this process has nothing to do, whatever else is wrong.
    if not os.environ.get("TIERTRACE_AMQP_URL", "").strip():
        click.echo(
            "Error: TIERTRACE_AMQP_URL is not set. Without a broker the bus runs inside `tiertrace serve` "
            "(embedded mode); set it to run consumers here.",
            err=True,
        )
        raise SystemExit(2)
    # Before the settings, which would create the data folder. The schema is checked once the worker
    # runs, which waits for it: `tiertrace serve` may be migrating right now (docker compose starts both
    # at once).
    url = database_url_from_env()
    problem = unusable_database_url(url) or missing_database_file(url)
    if problem is not None:
        raise click.ClickException(problem)
    try:
        # A worker signs no web session: no secret key, and no key file made up for it.
        settings = Settings.from_env(sessions=False)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    assert settings.amqp_url, "checked above"
    problem = amqp_url_problem(settings.amqp_url)
    if problem is not None:
        raise click.ClickException(f"TIERTRACE_AMQP_URL cannot be used: {problem}")
    configure_logging(log_level)
    status = run_worker(
        settings,
        consumers=names,
        relay=relay,
        webhooks=webhooks,
        prefetch=prefetch,
        concurrency=concurrency,
        health_file=health_file,
    )
    if status:
        raise SystemExit(status)
