"""The bus's own errors; pika's exceptions never leave `worker.rabbitmq` under their own names."""

from __future__ import annotations


class BusError(Exception):
    """Base of the errors the bus raises on purpose."""


class BusUnavailable(BusError):
    # STYLE says exceptions end in "Error"; this one keeps the name the design gives it (BusUnavailable).
    """The broker cannot be reached, or the connection or channel to it was lost or refused."""


class TopologyMismatchError(BusUnavailable):
    """An exchange or queue exists with other arguments than the ones this version declares.

    RabbitMQ answers PRECONDITION_FAILED instead of changing a queue in place; an operator has to
    delete (or migrate) the old queue first.
    """
