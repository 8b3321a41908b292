"""The overdue sweep under a controllable clock: overdue after the due date, a reminder, then escalation."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tiertrace.chains.models import Rollup
from tiertrace.chains.services import handle_event, refresh_rollups
from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.disclosure.overdue import ESCALATION, REMINDER, run_overdue_sweep
from tiertrace.disclosure.services import create_request, decline_request
from tiertrace.organizations.models import Organization
from tiertrace.outbox.models import OutboxEvent

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DUE = date(2025, 4, 1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def at(self, day: date, hour: int = 9) -> datetime:
        self.now = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def world(make_org, session_factory):
    """An OEM that asked a supplier about a part, due on DUE; and one more supplier."""
    oem = make_org("noordhaven")
    supplier = make_org("heilong-graphite", country="CN")
    other = make_org("quiet-supplier")
    with session_factory() as session:
        requester = session.get(Organization, oem.organization.id)
        request = create_request(
            session, requester, supplier_slug=supplier.slug, part_number="ANODE-1", due_date=DUE, now=T0
        )
        session.commit()
        return {"oem": oem, "supplier": supplier, "other": other, "request_id": request.id}


def sweep(session_factory, now, settings):
    with session_factory() as session:
        result = run_overdue_sweep(session, now, settings)
        session.commit()
        return result


def state(session_factory, request_id):
    """The request's columns, its notifications (kind, organisation) and its overdue events."""
    with session_factory() as session:
        request = session.get(DisclosureRequest, request_id)
        notifications = [
            (n.kind, n.organization_id, n.created_at)
            for n in session.scalars(
                select(Notification)
                .where(Notification.request_id == request_id, Notification.kind.in_((REMINDER, ESCALATION)))
                .order_by(Notification.created_at, Notification.kind)
            )
        ]
        events = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "request.overdue")
        )
        return {
            "status": request.status,
            "overdue_at": request.overdue_at,
            "reminded_at": request.reminded_at,
            "escalated_at": request.escalated_at,
            "notifications": notifications,
            "events": events,
        }


def test_a_request_is_still_open_on_its_due_date_and_overdue_the_day_after(
    session_factory, settings, world, clock
):
    assert sweep(session_factory, clock.at(DUE, hour=23), settings).overdue == []
    assert state(session_factory, world["request_id"])["status"] == "open"

    result = sweep(session_factory, clock.at(DUE + timedelta(days=1), hour=0), settings)
    assert result.overdue == [world["request_id"]]
    after = state(session_factory, world["request_id"])
    assert (after["status"], after["overdue_at"]) == ("overdue", clock.now)


def test_turning_overdue_records_the_event_and_reminds_the_supplier(session_factory, settings, world, clock):
    result = sweep(session_factory, clock.at(DUE + timedelta(days=2)), settings)
    assert (result.overdue, result.reminded, result.escalated) == (
        [world["request_id"]],
        [world["request_id"]],
        [],
    )
    after = state(session_factory, world["request_id"])
    assert after["reminded_at"] == clock.now and after["escalated_at"] is None
    assert after["notifications"] == [(REMINDER, world["supplier"].organization.id, clock.now)]
    with session_factory() as session:
        event = session.scalar(select(OutboxEvent).where(OutboxEvent.type == "request.overdue"))
        assert event.payload == {"request_id": world["request_id"]}
        reminder = session.scalar(select(Notification).where(Notification.kind == REMINDER))
        assert reminder.data["due_date"] == DUE.isoformat()
        assert (reminder.data["requester"], reminder.data["part_number"]) == ("noordhaven", "ANODE-1")


def test_a_second_sweep_at_the_same_clock_changes_nothing(session_factory, settings, world, clock):
    late = clock.at(DUE + timedelta(days=settings.escalation_grace_days + 5))
    first = sweep(session_factory, late, settings)
    assert first.changed
    before = state(session_factory, world["request_id"])
    again = sweep(session_factory, late, settings)
    assert not again.changed and again.webhooks_queued == 0
    assert state(session_factory, world["request_id"]) == before
    assert before["events"] == 1 and len(before["notifications"]) == 2


def test_escalation_to_the_requester_comes_only_once_the_grace_has_passed(
    session_factory, settings, world, clock
):
    settings = replace(settings, escalation_grace_days=3)
    sweep(session_factory, clock.at(DUE + timedelta(days=1)), settings)
    # Due + 3 days is the last day of the grace: still no escalation.
    assert sweep(session_factory, clock.at(DUE + timedelta(days=3)), settings).escalated == []
    result = sweep(session_factory, clock.at(DUE + timedelta(days=4)), settings)
    assert result.escalated == [world["request_id"]]
    escalated_at = clock.now
    # Later sweeps neither remind nor escalate again.
    assert not sweep(session_factory, clock.at(DUE + timedelta(days=30)), settings).changed
    after = state(session_factory, world["request_id"])
    assert after["escalated_at"] == escalated_at
    assert [(kind, org) for kind, org, _ in after["notifications"]] == [
        (REMINDER, world["supplier"].organization.id),
        (ESCALATION, world["oem"].organization.id),
    ]


def test_answered_and_declined_requests_are_never_reminded(
    session_factory, settings, world, clock, make_payload, submit
):
    with session_factory() as session:
        requester = session.get(Organization, world["oem"].organization.id)
        declined = create_request(
            session, requester, supplier_slug="quiet-supplier", part_number="SEAL-2", due_date=DUE, now=T0
        )
        session.commit()
        decline_request(session, session.get(Organization, world["other"].organization.id), declined.id, "no")
        session.commit()
        declined_id = declined.id
    submit(world["supplier"], make_payload("heilong-graphite", "ANODE-1", in_response_to=world["request_id"]))

    result = sweep(session_factory, clock.at(DUE + timedelta(days=60)), settings)
    assert not result.changed
    assert state(session_factory, world["request_id"])["status"] == "answered"
    assert state(session_factory, declined_id)["notifications"] == []


def test_a_request_answered_while_overdue_is_not_escalated(
    session_factory, settings, world, clock, make_payload, submit
):
    sweep(session_factory, clock.at(DUE + timedelta(days=1)), settings)
    submit(world["supplier"], make_payload("heilong-graphite", "ANODE-1", in_response_to=world["request_id"]))
    result = sweep(
        session_factory, clock.at(DUE + timedelta(days=settings.escalation_grace_days + 10)), settings
    )
    assert result.escalated == []
    assert state(session_factory, world["request_id"])["escalated_at"] is None


def test_a_reminder_to_a_supplier_with_a_webhook_is_queued_for_delivery(
    session_factory, settings, world, clock
):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        supplier.webhook_url, supplier.webhook_secret = "https://example.test/hook", "s3cret"
        session.commit()
    result = sweep(session_factory, clock.at(DUE + timedelta(days=1)), settings)
    assert result.webhooks_queued == 1
    with session_factory() as session:
        reminder = session.scalar(select(Notification).where(Notification.kind == REMINDER))
        assert reminder.next_attempt_at == clock.now and reminder.delivered_at is None


def test_the_merge_consumer_turns_the_gap_overdue_after_the_sweep(
    session_factory, settings, world, clock, make_payload, submit
):
    root = submit(
        world["oem"],
        make_payload(
            "noordhaven",
            "SHIP-1",
            program="SHIP",
            components=[{"part_number": "ANODE-1", "supplier": "heilong-graphite", "quantity": 2}],
        ),
    )
    with session_factory() as session:
        refresh_rollups(session, [root.id])
        session.commit()
        assert session.get(Rollup, root.id).data["coverage"]["gaps"] == {"open": 1}
    sweep(session_factory, clock.at(DUE + timedelta(days=1)), settings)
    with session_factory() as session:
        event = session.scalar(select(OutboxEvent).where(OutboxEvent.type == "request.overdue"))
        handle_event(session, event.type, event.payload)
        session.commit()
        assert session.get(Rollup, root.id).data["coverage"]["gaps"] == {"overdue": 1}


def test_a_naive_clock_is_refused(session_factory, settings, world):
    with session_factory() as session, pytest.raises(ValueError, match="timezone-aware"):
        run_overdue_sweep(session, datetime(2025, 5, 1, 9, 0), settings)


@pytest.mark.postgres
@pytest.mark.skipif(os.environ.get("TIERTRACE_TEST_DB") != "postgresql", reason="needs PostgreSQL row locks")
def test_two_sweeps_at_once_remind_the_supplier_once(session_factory, settings, world, clock):
    now = clock.at(DUE + timedelta(days=1))
    with session_factory() as first, session_factory() as second:
        claimed = run_overdue_sweep(first, now, settings)
        # The second sweep skips the rows the first one holds instead of waiting for them.
        skipped = run_overdue_sweep(second, now, settings)
        first.commit()
        second.commit()
    assert claimed.reminded == [world["request_id"]] and not skipped.changed
    assert not sweep(session_factory, now, settings).changed
    assert len(state(session_factory, world["request_id"])["notifications"]) == 1
