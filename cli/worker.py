"""`tiertrace worker`: the bus consumers and the outbox relay against RabbitMQ (as `python -m worker`)."""

from __future__ import annotations

from cli.main import main
from worker.command import worker

main.add_command(worker)
