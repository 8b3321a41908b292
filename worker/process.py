"""The worker process: wiring shared by `python -m worker` and `tiertrace worker`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from worker.handlers import CONSUMERS_BY_NAME
from worker.rabbitmq import DEFAULT_PREFETCH, RabbitWorker

#: Every consumer, in the order `--consumers` lists them by default.
ALL_CONSUMERS = tuple(CONSUMERS_BY_NAME)


def configure_logging(level: str = "INFO") -> None:
    """Log lines to stderr.

    pika logs every failed connection attempt at ERROR, with tracebacks, on every thread (hundreds of
    lines a minute while the broker is down); worker.rabbitmq logs each failure itself, one line with
    the reason. So pika shows its CRITICAL lines, and at DEBUG its WARNING ones and up. Alembic logs two
    INFO lines each time the worker reads the database's revision: shown at DEBUG only.
    """
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    debug = level.upper() == "DEBUG"
    logging.getLogger("pika").setLevel(logging.WARNING if debug else logging.CRITICAL)
    logging.getLogger("alembic").setLevel(logging.INFO if debug else logging.WARNING)


def run_worker(
    settings: Settings,
    *,
    consumers: Sequence[str] = ALL_CONSUMERS,
    relay: bool = True,
    webhooks: bool = True,
    prefetch: int = DEFAULT_PREFETCH,
    concurrency: int = 1,
    health_file: Path | None = None,
) -> int:
    """Run the relay, the consumers and the webhook sender against `settings.amqp_url` until
    SIGTERM/SIGINT; returns the exit status (`RabbitWorker.run`).

    With `health_file`, keeps the worker's status there for `tiertrace worker --check` (worker/health.py).
    """
    # Handlers hand the GIL back and forth between the I/O threads and the handler threads; the default
    # 5 ms switch interval would add up to that much to every hop when a thread is busy computing.
    sys.setswitchinterval(0.0005)
    # No ping before each checkout: every transaction here is retried when its connection was lost.
    engine = make_engine(settings.database_url, pre_ping=False)
    try:
        worker = RabbitWorker(
            settings,
            make_session_factory(engine),
            consumers=consumers,
            relay=relay,
            webhooks=webhooks,
            prefetch=prefetch,
            concurrency=concurrency,
            health_file=health_file,
        )
        return worker.run()
    finally:
        engine.dispose()
