"""One notification per (request, organisation, kind): the database refuses a second one, and the inserts
of propagation and of the notify consumer skip it, also when another transaction makes it at the same
time (migration 0008)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from services_support import TEST_DB
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.disclosure.notifications import (
    REQUEST_CREATED,
    ensure_request_notification,
    notify_new_requests,
    register_webhook,
)
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def make_requests(session_factory, make_org, count: int = 1, *, webhook: bool = False) -> list[str]:
    """Requests from a new OEM to as many new suppliers (with a webhook if `webhook`), committed."""
    oem, *suppliers = (make_org() for _ in range(count + 1))
    with session_factory() as session:
        requester = session.get(Organization, oem.organization.id)
        ids = []
        for supplier in suppliers:
            if webhook:
                organization = session.get(Organization, supplier.organization.id)
                register_webhook(session, organization, "http://127.0.0.1:9/hook", allow_private=True)
            ids.append(create_request(session, requester, supplier_slug=supplier.slug, part_number="TRM").id)
        session.commit()
    return ids


def notify_as_propagation(session, request_ids: list[str]) -> None:
    """`notify_new_requests` for the requests, as propagation calls it with the rows it inserted."""
    requests = [session.get(DisclosureRequest, request_id) for request_id in request_ids]
    rows = [
        {column.key: getattr(request, column.key) for column in DisclosureRequest.__table__.columns}
        for request in requests
    ]
    slugs = {request.requester_id: request.requester.slug for request in requests}
    notify_new_requests(session, rows, requester_slugs=slugs, now=NOW)


def notifications_of(session_factory, request_id: str) -> list[Notification]:
    with session_factory() as session:
        return list(session.scalars(select(Notification).where(Notification.request_id == request_id)))


def test_notifying_the_same_new_requests_again_adds_no_second_notification_in_one_statement(
    session_factory, make_org, engine
):
    ids = make_requests(session_factory, make_org, 3)
    with session_factory() as session:
        notify_as_propagation(session, ids[:2])
        session.commit()

    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_factory() as session:
            notify_as_propagation(session, ids)  # a redelivery, with a request the first pass did not have
            session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert [len(notifications_of(session_factory, request_id)) for request_id in ids] == [1, 1, 1]
    assert sum(statement.lstrip().startswith("INSERT") for statement in statements) == 1


def test_two_transactions_notifying_the_same_request_at_once_leave_one_notification(
    session_factory, make_org
):
    """The second insert waits for the first transaction (PostgreSQL: its index entry; SQLite: its write
    lock), then skips the notification it committed."""
    (request_id,) = make_requests(session_factory, make_org)
    second_done = threading.Event()
    failures: list[BaseException] = []

    def second() -> None:
        try:
            with session_factory() as session:
                notify_as_propagation(session, [request_id])
                session.commit()
        except BaseException as exc:  # reported by the test's thread below
            failures.append(exc)
        finally:
            second_done.set()

    with session_factory() as first:
        notify_as_propagation(first, [request_id])
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_done.wait(0.5), "the second insert did not wait for the first transaction"
        first.commit()
    thread.join(timeout=30)

    assert second_done.is_set() and not failures
    assert len(notifications_of(session_factory, request_id)) == 1


def test_the_database_refuses_a_second_notification_of_a_kind_about_a_request(session_factory, make_org):
    (request_id,) = make_requests(session_factory, make_org)
    with session_factory() as session:
        request = session.get(DisclosureRequest, request_id)

        def notification(kind: str, organization_id: int) -> Notification:
            return Notification(organization_id=organization_id, kind=kind, request_id=request_id, data={})

        # Another kind, or the same kind to another organisation, is another notification.
        session.add_all(
            [
                notification(REQUEST_CREATED, request.supplier_id),
                notification("reminder", request.supplier_id),
                notification("escalation", request.requester_id),
            ]
        )
        session.commit()
        session.add(notification("reminder", request.supplier_id))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    assert len(notifications_of(session_factory, request_id)) == 3


@pytest.mark.postgres
@pytest.mark.skipif(TEST_DB != "postgresql", reason="SQLite runs one writing transaction at a time")
def test_a_notification_another_worker_inserts_meanwhile_is_found_not_repeated_and_its_webhook_queued(
    session_factory, make_org, engine
):
    """Between the notify consumer's query (no notification yet) and its insert, propagation in another
    transaction commits the supplier's notification, without a webhook POST."""
    (request_id,) = make_requests(session_factory, make_org, webhook=True)
    queries: list[str] = []

    def after_the_query_another_worker_inserts(_connection, _cursor, statement, *_args):
        if statement.startswith("SELECT") and "LEFT OUTER JOIN notifications" in statement:
            queries.append(statement)
            if len(queries) == 1:
                with session_factory() as other:
                    notify_as_propagation(other, [request_id])
                    other.commit()

    event.listen(engine, "after_cursor_execute", after_the_query_another_worker_inserts)
    try:
        with session_factory() as session:
            notification, queued = ensure_request_notification(session, request_id, now=NOW)
            session.commit()
    finally:
        event.remove(engine, "after_cursor_execute", after_the_query_another_worker_inserts)

    stored = notifications_of(session_factory, request_id)
    assert len(stored) == 1
    assert len(queries) == 2  # read again after the insert skipped it
    assert notification is not None and notification.id == stored[0].id
    assert queued and stored[0].next_attempt_at == NOW
