"""From the outbox to the wire: payloads are checked when an event is written, so the relay only encodes
them, byte for byte as the validating encoder would, in two statements a pass and no ORM session."""

from __future__ import annotations

import uuid

import pytest
from bus_support import count_rows
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from schemas.bus import dump_message, load_message
from tiertrace.outbox.models import OutboxEvent
from tiertrace.outbox.services import EVENT_TYPES, record_event, record_events
from worker.relay import OutboxRelay, encode_event


class ConfirmingPublisher:
    """Confirms everything at once and keeps what it was given."""

    def __init__(self):
        self.published = []

    def publish(self, messages):
        self.published.extend(messages)
        confirmed = {message.message_id for message in messages}

        class Confirms:
            def wait(self, timeout):
                return confirmed

        return Confirms()


def payload_of(type: str) -> dict[str, str | None]:
    if type == "declaration.accepted":
        return {"declaration_id": str(uuid.uuid4()), "supersedes_id": None}
    return {"request_id": str(uuid.uuid4())}


@pytest.mark.parametrize(
    "payload",
    [
        {"request": "a whole object"},  # not the schema's field
        {"request_id": "R-1"},  # not a UUID
        {"request_id": str(uuid.uuid4()).upper()},  # ids are lower case
        {"request_id": str(uuid.uuid4()), "slug": "yard"},  # ids only
        {},
    ],
)
def test_an_event_whose_payload_breaks_the_bus_schema_is_refused_and_nothing_is_written(
    payload, session_factory
):
    with session_factory() as session:
        record_event(session, "request.created", {"request_id": str(uuid.uuid4())})
        with pytest.raises(ValueError, match=r"not a valid 'request\.created' event"):
            record_events(session, "request.created", [{"request_id": str(uuid.uuid4())}, payload])
        session.commit()
    assert count_rows(session_factory, OutboxEvent) == 1  # the valid event before it, alone


def test_the_relay_sends_each_event_as_the_bytes_the_validating_encoder_makes(session_factory):
    with session_factory() as session:
        for type in EVENT_TYPES:
            record_event(session, type, payload_of(type))
        session.commit()
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)).all()
    publisher = ConfirmingPublisher()
    assert OutboxRelay(session_factory, publisher).publish_pending() == (len(EVENT_TYPES), len(EVENT_TYPES))
    assert [message.body for message in publisher.published] == [
        dump_message(row.message_id, row.type, row.version, row.payload) for row in rows
    ]
    for row, message in zip(rows, publisher.published, strict=True):
        assert message == encode_event(row)
        assert load_message(message.body)["payload"] == row.payload
        assert message.routing_key == f"{row.type}.v{EVENT_TYPES[row.type]}"


def test_recording_an_event_inserts_it_without_reading_anything_back(session_factory, engine):
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        statements.append(statement)

    with session_factory() as session:
        session.connection()
        event.listen(engine, "before_cursor_execute", record)
        try:
            record_event(session, "request.created", payload_of("request.created"))
        finally:
            event.remove(engine, "before_cursor_execute", record)
        session.commit()
    inserts = [statement for statement in statements if statement.startswith("INSERT")]
    assert len(inserts) == 1
    assert "RETURNING" not in inserts[0]


def test_a_relay_pass_is_two_statements_on_a_connection_without_an_orm_session(session_factory, engine):
    with session_factory() as session:
        record_events(session, "request.created", [payload_of("request.created") for _ in range(3)])
        session.commit()
    statements: list[str] = []
    sessions: list[Session] = []

    def record(_connection, _cursor, statement, *_args):
        statements.append(statement)

    def began(session, _transaction, _connection):
        sessions.append(session)

    event.listen(engine, "before_cursor_execute", record)
    event.listen(Session, "after_begin", began)
    try:
        assert OutboxRelay(session_factory, ConfirmingPublisher()).publish_pending() == (3, 3)
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(Session, "after_begin", began)
    assert [statement.split()[0] for statement in statements if statement != "BEGIN IMMEDIATE"] == [
        "SELECT",
        "UPDATE",
    ]
    assert sessions == []
    assert count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 0
