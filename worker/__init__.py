"""The message bus: the outbox relay, the RabbitMQ consumers and the in-process bus of the embedded mode.

Depends on `tiertrace` and `schemas`; never on flask, werkzeug, `portal` or `cli`. Only `rabbitmq.py`
imports pika, and everything it raises leaves it as `worker.errors.BusUnavailable`.
"""
