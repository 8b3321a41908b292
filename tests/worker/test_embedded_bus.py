"""The embedded mode: the same handlers, in-process, fed from the outbox; no broker anywhere."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tiertrace.db import utcnow
from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.outbox.models import OutboxEvent, ProcessedMessage
from worker.embedded import start_embedded_bus


def test_a_five_tier_chain_propagates_end_to_end_on_the_embedded_bus(
    settings, session_factory, five_tier_chain
):
    bus = start_embedded_bus(settings, session_factory, poll_interval=0.5)
    try:
        chain = five_tier_chain()
        bus.drain(timeout=30)
    finally:
        bus.stop()
    members, declarations = chain["members"], chain["declarations"]
    with session_factory() as session:
        forwarded = session.scalars(
            select(DisclosureRequest).where(DisclosureRequest.source_declaration_id.is_not(None))
        ).all()
        by_supplier = {r.supplier_id: r for r in forwarded}
        assert len(forwarded) == 4
        today = utcnow().date()
        for tier in range(1, 5):
            request = by_supplier[members[tier].organization.id]
            assert request.requester_id == members[tier - 1].organization.id
            assert request.part_number == f"P{tier}"
            assert request.program == "ZEEHAVIK"
            assert request.status == "answered"
            assert request.declaration_id == declarations[tier].id
            assert request.source_declaration_id == declarations[tier - 1].id
            expected_parent = None if tier == 1 else by_supplier[members[tier - 1].organization.id].id
            assert request.parent_id == expected_parent
            # Each tier is due a margin before the one below it, never before today.
            expected_due = max(today, today + timedelta(days=settings.default_due_days - 7 * (tier - 1)))
            assert request.due_date == expected_due
        notified = session.scalars(
            select(Notification.organization_id).where(Notification.kind == "request.created")
        )
        assert sorted(notified) == sorted(m.organization.id for m in members[1:])
        assert session.scalar(select(func.count()).where(OutboxEvent.sent_at.is_(None))) == 0
        # Every event went through the ledger of each consumer bound to it.
        consumers = dict(
            session.execute(
                select(ProcessedMessage.consumer, func.count()).group_by(ProcessedMessage.consumer)
            ).all()
        )
        assert consumers == {"propagate": 5, "merge": 5 + 4, "notify": 4}


def test_a_poison_row_is_dead_lettered_on_the_embedded_bus_while_the_rest_flow(
    settings, session_factory, make_org, make_payload, submit
):
    from bus_support import component, open_request_for, wait_for

    from tiertrace.audit.models import AuditLogEntry
    from worker.embedded import DEAD_LETTER_ACTION

    with session_factory() as session:
        # A producer bug: a payload that breaks the bus schema.
        session.add(OutboxEvent(type="request.created", version=1, payload={"request": {"whole": "object"}}))
        session.commit()
    bus = start_embedded_bus(settings, session_factory, poll_interval=0.2)
    try:
        oem, supplier = make_org(), make_org()
        submit(oem, make_payload(oem.slug, "SHIP", components=[component(supplier.slug, "RADAR")]))
        wait_for(open_request_for(session_factory, supplier.organization.id, "RADAR"))
        bus.drain(timeout=30)
    finally:
        bus.stop()
    assert {(d.consumer, d.reason) for d in bus.dead_letters} == {
        ("merge", "invalid message"),
        ("notify", "invalid message"),
    }
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(AuditLogEntry.action == DEAD_LETTER_ACTION)) == 2
        assert session.scalar(select(func.count()).where(OutboxEvent.sent_at.is_(None))) == 0


def test_a_handler_that_keeps_failing_is_dead_lettered_after_the_delivery_limit_on_the_embedded_bus(
    settings, session_factory
):
    from tiertrace.outbox.services import record_event
    from worker.handlers import Backoff

    with session_factory() as session:
        # A declaration that does not exist: propagation raises NotFoundError every time.
        record_event(
            session,
            "declaration.accepted",
            {"declaration_id": "00000000-0000-4000-8000-000000000000", "supersedes_id": None},
        )
        session.commit()
    bus = start_embedded_bus(
        settings, session_factory, poll_interval=0.1, delivery_limit=3, backoff=Backoff(first=0.01, cap=0.02)
    )
    try:
        bus.drain(timeout=30)
    finally:
        bus.stop()
    assert [(d.consumer, d.reason) for d in bus.dead_letters] == [("propagate", "delivery limit reached")]
