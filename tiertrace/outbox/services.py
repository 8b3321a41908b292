"""Writing events to the outbox, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import Session

from schemas.bus import ValidationError, validate_payload
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


#: Inline: nothing is read back (a single row would otherwise be inserted with RETURNING its seq).
_INSERT_EVENT = insert(cast(Table, OutboxEvent.__table__)).inline()


def record_event(session: Session, type: str, payload: dict[str, Any]) -> None:
    """Insert an event into the outbox in the caller's transaction; it is published only if that commits.

    `payload` carries ids only, never whole objects. The row is inserted at once (a Core statement, no
    unit of work), so events keep the order in which they were recorded. Raises ValueError for an
    unknown type or a payload that breaks the bus schema (schemas.bus), having written nothing: the
    relay publishes the rows without validating them again.
    """
    record_events(session, type, [payload])


def record_events(session: Session, type: str, payloads: Sequence[dict[str, Any]]) -> None:
    """`record_event` for several events of one type: one statement, rows in the order given."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    version = EVENT_TYPES[type]
    for payload in payloads:
        try:
            validate_payload(type, version, payload)
        except ValidationError as exc:
            raise ValueError(f"not a valid {type!r} event: {exc.messages}") from exc
    if not payloads:
        return
    connection = session.connection()
    connection.execute(
        _INSERT_EVENT, [{"type": type, "version": version, "payload": payload} for payload in payloads]
    )
    if not session.info.get(PENDING_FLAG):
        session.info[PENDING_FLAG] = True
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")


def routing_key(event: OutboxEvent) -> str:
    return f"{event.type}.v{event.version}"
