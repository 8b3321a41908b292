"""The transactional outbox: an event exists exactly when the change it announces does."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import submit_declaration
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import create_request, decline_request
from tiertrace.organizations.models import Organization
from tiertrace.outbox.models import OutboxEvent
from tiertrace.outbox.services import NOTIFY_CHANNEL, on_outbox_commit


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_failure_after_the_outbox_insert_leaves_neither_row(session_factory, make_org, make_payload, sign):
    supplier = make_org("lumen")
    with session_factory() as session:
        organization = session.get(Organization, supplier.organization.id)
        submit_declaration(session, organization, sign(supplier, make_payload("lumen")))
        session.flush()
        assert count(session, OutboxEvent) == 1 and count(session, Declaration) == 1
        # Whatever fails after the insert (a later statement, the process, the commit) rolls back both.
        session.rollback()
    with session_factory() as session:
        assert count(session, OutboxEvent) == 0
        assert count(session, Declaration) == 0


def test_accepted_declarations_new_requests_and_declines_each_write_their_event(
    session_factory, make_org, make_payload, sign
):
    oem, supplier = make_org("oem"), make_org("lumen")
    with session_factory() as session:
        requester = session.get(Organization, oem.organization.id)
        request = create_request(session, requester, supplier_slug="lumen", part_number="P-1")
        decline_request(session, session.get(Organization, supplier.organization.id), request.id, "secret")
        submit_declaration(
            session,
            session.get(Organization, supplier.organization.id),
            sign(supplier, make_payload("lumen", "P-2")),
        )
        session.commit()
        events = session.execute(
            select(OutboxEvent.type, OutboxEvent.payload).order_by(OutboxEvent.seq)
        ).all()
    assert [type_ for type_, _ in events] == ["request.created", "request.declined", "declaration.accepted"]
    assert events[0][1] == {"request_id": request.id}


def test_commit_callbacks_fire_only_after_a_commit_that_wrote_events(session_factory, make_org):
    oem, _ = make_org("oem"), make_org("lumen")
    fired: list[int] = []
    unregister = on_outbox_commit(lambda: fired.append(1))
    try:
        with session_factory() as session:
            requester = session.get(Organization, oem.organization.id)
            create_request(session, requester, supplier_slug="lumen", part_number="P-1")
            session.rollback()
            assert fired == []
            create_request(session, requester, supplier_slug="lumen", part_number="P-1")
            session.commit()
            assert fired == [1]
            session.get(Organization, oem.organization.id).name = "renamed"
            session.commit()
            assert fired == [1]
    finally:
        unregister()


def test_an_invalid_request_changes_nothing(session_factory, make_org):
    from tiertrace.errors import RuleViolationError

    oem = make_org("oem")
    with session_factory() as session:
        with pytest.raises(RuleViolationError):
            create_request(
                session,
                session.get(Organization, oem.organization.id),
                supplier_slug="ghost",
                part_number="P-1",
            )
        session.commit()
        assert count(session, DisclosureRequest) == 0 and count(session, OutboxEvent) == 0


def test_on_postgresql_outbox_rows_notify_the_relays_once_per_commit_and_never_on_rollback(
    session_factory, engine, make_org
):
    if engine.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's")
    oem, _ = make_org("oem"), make_org("lumen")
    raw = engine.raw_connection()
    try:
        listener = raw.driver_connection
        listener.autocommit = True
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with session_factory() as session:
            requester = session.get(Organization, oem.organization.id)
            create_request(session, requester, supplier_slug="lumen", part_number="P-1")
            session.rollback()
            assert list(listener.notifies(timeout=0.3)) == []
            for part in ("P-1", "P-2"):
                create_request(session, requester, supplier_slug="lumen", part_number=part)
            session.commit()
        assert [n.channel for n in listener.notifies(timeout=0.5)] == [NOTIFY_CHANNEL]
    finally:
        raw.invalidate()
