"""The worker's command line, one definition for `tiertrace worker` and `python -m worker`."""

from __future__ import annotations

import click

from tiertrace.config import ConfigurationError, Settings, database_url_from_env, missing_database_file
from worker.process import ALL_CONSUMERS, configure_logging, run_worker
from worker.rabbitmq import DEFAULT_PREFETCH


@click.command()
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
def worker(
    consumers: str, relay: bool, webhooks: bool, prefetch: int, concurrency: int, log_level: str
) -> None:
    """Run the bus: the outbox relay, the consumers and the webhook sender, against RabbitMQ.

    Needs TIERTRACE_AMQP_URL and TIERTRACE_DATABASE_URL (PostgreSQL), a database that exists (see
    `tiertrace db upgrade`); TIERTRACE_BUS_PREFIX prefixes the exchange and queue names. Declares the
    exchange and queues at start, reconnects after a broker restart, and on SIGTERM finishes the
    messages in hand before it exits. Several workers may run at once. Without TIERTRACE_AMQP_URL the
    bus runs inside `tiertrace serve` instead (embedded mode), and this command exits with status 2.
    """
    names = [name for name in consumers.split(",") if name]
    unknown = set(names) - set(ALL_CONSUMERS)
    if unknown:
        raise click.BadParameter(f"unknown consumers: {', '.join(sorted(unknown))}", param_hint="--consumers")
    # Before the settings, which would create the data folder and a secret key file. The schema is not
    # checked: `tiertrace serve` may be migrating right now (docker compose starts both at once), and the
    # worker retries until the tables are there.
    problem = missing_database_file(database_url_from_env())
    if problem is not None:
        raise click.ClickException(problem)
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(log_level)
    status = run_worker(
        settings,
        consumers=names,
        relay=relay,
        webhooks=webhooks,
        prefetch=prefetch,
        concurrency=concurrency,
    )
    if status:
        raise SystemExit(status)
