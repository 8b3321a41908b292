"""The merge and notify handlers take a batch of request events for the round trips of one event."""

from __future__ import annotations

import uuid

import pytest
from bus_support import component, count_rows
from sqlalchemy import event

from schemas.bus import dump_message
from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import register_webhook
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from worker.handlers import Dispatcher, Disposition, build_handlers


def request_created(request_id: str) -> bytes:
    return dump_message(str(uuid.uuid4()), "request.created", 1, {"request_id": request_id})


@pytest.fixture
def listed_requests(session_factory, make_org, make_payload, submit) -> list[str]:
    """Requests from a yard to six suppliers, each for a part its ship's declaration lists; the first
    three suppliers have a webhook."""
    yard, *suppliers = (make_org() for _ in range(7))
    parts = [(supplier, f"PART-{n}") for n, supplier in enumerate(suppliers)]
    submit(yard, make_payload(yard.slug, "SHIP", components=[component(s.slug, part) for s, part in parts]))
    with session_factory() as session:
        for supplier, _ in parts[:3]:
            organization = session.get(Organization, supplier.organization.id)
            register_webhook(session, organization, "http://127.0.0.1:9/hook", allow_private=True)
        requester = session.get(Organization, yard.organization.id)
        ids = [
            create_request(session, requester, supplier_slug=s.slug, part_number=part).id for s, part in parts
        ]
        session.commit()
    return ids


def statements_of(engine, deliver) -> int:
    """How many statements `deliver()` sends to the database."""
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert set(deliver()) == {Disposition.ACK}
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(statements)


@pytest.mark.parametrize("consumer", ["merge", "notify"])
def test_a_batch_of_request_events_takes_the_statements_of_one(
    consumer, session_factory, settings, engine, listed_requests
):
    dispatcher = Dispatcher(session_factory, build_handlers(settings))
    first, *others = listed_requests

    one = statements_of(engine, lambda: dispatcher.deliver_many(consumer, [request_created(first)]))
    five = statements_of(
        engine, lambda: dispatcher.deliver_many(consumer, [request_created(i) for i in others])
    )

    assert five == one


def test_the_notify_handler_wakes_the_webhook_sender_once_its_batch_has_committed(
    session_factory, settings, listed_requests
):
    seen_at_wake: list[int] = []
    handlers = build_handlers(
        settings, on_webhook_queued=lambda: seen_at_wake.append(count_rows(session_factory, Notification))
    )
    dispatcher = Dispatcher(session_factory, handlers)
    with_webhook, without = listed_requests[:3], listed_requests[3:]

    assert set(dispatcher.deliver_many("notify", [request_created(i) for i in without])) == {Disposition.ACK}
    assert seen_at_wake == []  # nothing queued: no webhook to POST to
    bodies = [request_created(i) for i in with_webhook + without]
    assert set(dispatcher.deliver_many("notify", bodies)) == {Disposition.ACK}
    assert seen_at_wake == [6]  # once for the batch, with its notifications committed
