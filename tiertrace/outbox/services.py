"""Writing events to the outbox, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from tiertrace.outbox.models import OutboxEvent

#: Every event type the domain emits, with its current version. Routing key: f"{type}.v{version}".
EVENT_TYPES = {
    "declaration.accepted": 1,
    "request.created": 1,
    "request.declined": 1,
    "request.overdue": 1,
}

#: PostgreSQL channel the relay LISTENs on; NOTIFY is transactional, so it fires only on commit.
NOTIFY_CHANNEL = "tiertrace_outbox"
#: Key in `Session.info`: the open transaction wrote outbox rows.
PENDING_FLAG = "tiertrace.outbox_pending"
#: Called with no arguments after a transaction that wrote outbox rows commits (the embedded bus wakes
#: its relay this way; PostgreSQL relays are woken by NOTIFY instead).
_commit_callbacks: list[Callable[[], None]] = []


def on_outbox_commit(callback: Callable[[], None]) -> Callable[[], None]:
    """Register `callback` to run after every commit that wrote outbox rows; returns an unregister."""
    _commit_callbacks.append(callback)
    return lambda: _commit_callbacks.remove(callback)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(PENDING_FLAG, False):
        for callback in list(_commit_callbacks):
            callback()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous_transaction: object) -> None:
    session.info.pop(PENDING_FLAG, None)


def record_event(session: Session, type: str, payload: dict[str, Any]) -> OutboxEvent:
    """Add an event to the outbox in the caller's transaction; it is published only if that commits.

    `payload` carries ids only, never whole objects. Flushes nothing by itself.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = OutboxEvent(type=type, version=EVENT_TYPES[type], payload=payload)
    session.add(event)
    if not session.info.get(PENDING_FLAG):
        session.info[PENDING_FLAG] = True
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
    return event


def routing_key(event: OutboxEvent) -> str:
    return f"{event.type}.v{event.version}"
