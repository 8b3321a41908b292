"""Propagation: an accepted declaration's components become requests to the next tier up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from tiertrace.audit.models import AuditLogEntry
from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import customer_ids
from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.disclosure.propagation import (
    CYCLE,
    SELF_REFERENCE,
    answered_request_id,
    child_due_date,
    propagate_declaration,
    propagate_declarations,
)
from tiertrace.disclosure.services import create_request
from tiertrace.errors import NotFoundError
from tiertrace.organizations.models import Organization
from tiertrace.outbox.models import OutboxEvent

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def component(supplier: str | None, part: str, *, request: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "part_number": part,
        "supplier": supplier,
        "quantity": 1.0,
        "request_disclosure": request,
        **extra,
    }


@pytest.fixture
def propagate(session_factory, settings):
    """Run propagation for a declaration in its own committed transaction, as the consumer does."""

    def run(declaration_id: str, now: datetime = NOW):
        with session_factory() as session:
            result = propagate_declaration(session, declaration_id, now=now, settings=settings)
            session.commit()
            return result

    return run


def requests(session_factory, **criteria) -> list[DisclosureRequest]:
    with session_factory() as session:
        query = select(DisclosureRequest).where(
            *(getattr(DisclosureRequest, name) == value for name, value in criteria.items())
        )
        return list(session.scalars(query.order_by(DisclosureRequest.created_at, DisclosureRequest.id)))


def count(session_factory, model, *criteria) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*criteria))


def test_each_component_that_names_a_supplier_and_asks_for_disclosure_becomes_a_forwarded_request(
    make_org, make_payload, submit, propagate, session_factory, settings
):
    oem, radar, hull = make_org("oem"), make_org("radar"), make_org("hull")
    declaration = submit(
        oem,
        make_payload(
            "oem",
            "FRIGATE",
            program="ZEEHAVIK",
            components=[
                component("radar", "TRM-2040"),
                component("hull", "STEEL-7", request=False),
                component(None, "FOIL-2", supplier_name="Moselle Foil SA", supplier_country="LU"),
            ],
        ),
    )
    result = propagate(declaration.id)
    [forwarded] = requests(session_factory, source_declaration_id=declaration.id)
    assert result.opened == [forwarded.id]
    assert forwarded.requester_id == oem.organization.id
    assert forwarded.supplier_id == radar.organization.id
    assert forwarded.part_number == "TRM-2040"
    assert forwarded.status == "open" and forwarded.declaration_id is None
    assert forwarded.parent_id is None
    assert forwarded.program == "ZEEHAVIK"
    assert forwarded.due_date == NOW.date() + timedelta(days=settings.default_due_days)
    # Announced on the bus and in the supplier's notifications.
    with session_factory() as session:
        events = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == "request.created")
        ).all()
        assert events == [{"request_id": forwarded.id}]
        [note] = session.scalars(select(Notification)).all()
    assert note.organization_id == radar.organization.id
    assert note.kind == "request.created" and note.request_id == forwarded.id
    assert note.data["requester"] == "oem" and note.data["part_number"] == "TRM-2040"
    assert (
        count(session_factory, DisclosureRequest, DisclosureRequest.supplier_id == hull.organization.id) == 0
    )


def test_propagating_the_same_declaration_twice_creates_nothing_the_second_time(
    make_org, make_payload, submit, propagate, session_factory
):
    yard = make_org("yard")
    make_org("radar")
    declaration = submit(
        yard,
        make_payload(
            "yard",
            "FRIGATE",
            components=[component("radar", "TRM-2040"), component("radar", "TRM-2040", quantity=2.0)],
        ),
    )
    first = propagate(declaration.id)
    second = propagate(declaration.id)
    assert len(first.opened) == 1  # the same (supplier, part) listed twice is asked once
    assert second.opened == [] and second.existing == 1
    assert count(session_factory, DisclosureRequest) == 1
    assert count(session_factory, OutboxEvent, OutboxEvent.type == "request.created") == 1
    assert count(session_factory, Notification) == 1


def test_a_forwarded_request_is_the_child_of_the_request_the_declaration_answers_and_due_a_margin_before_it(
    make_org, make_payload, submit, propagate, session_factory, settings
):
    oem, tier1, tier2 = make_org("oem"), make_org("tier1"), make_org("tier2")
    with session_factory() as session:
        asked = create_request(
            session,
            session.get(Organization, oem.organization.id),
            supplier_slug="tier1",
            part_number="TRM-2040",
            program="ZEEHAVIK",
            due_date=NOW.date() + timedelta(days=60),
            now=NOW,
        )
        session.commit()
    answer = submit(
        tier1,
        make_payload("tier1", "TRM-2040", in_response_to=asked.id, components=[component("tier2", "MMIC-7")]),
    )
    propagate(answer.id)
    [child] = requests(session_factory, supplier_id=tier2.organization.id)
    assert child.parent_id == asked.id
    assert child.requester_id == tier1.organization.id
    assert child.program == "ZEEHAVIK"  # carried along from the parent request
    assert child.due_date == NOW.date() + timedelta(days=60 - settings.tier_margin_days)


@pytest.mark.parametrize(
    ("parent_due", "expected"),
    [
        (None, date(2026, 4, 21)),  # no parent: the default 42 days
        (date(2026, 5, 1), date(2026, 4, 24)),  # a margin of 7 days before the parent
        (date(2026, 3, 12), date(2026, 3, 10)),  # never before today
        (date(2026, 3, 1), date(2026, 3, 10)),  # nor when the parent is overdue already
    ],
)
def test_a_child_request_is_due_a_margin_before_its_parent_but_never_in_the_past(
    settings, parent_due, expected
):
    assert child_due_date(parent_due, today=date(2026, 3, 10), settings=settings) == expected


def test_when_the_supplier_has_a_current_declaration_of_the_part_the_request_is_created_answered_and_linked(
    make_org, make_payload, submit, propagate, session_factory
):
    yard_a, yard_b = make_org("yard-a"), make_org("yard-b")
    ore = submit(make_org("miner"), make_payload("miner", "GA-ORE"))
    gallium = submit(
        make_org("smelter"), make_payload("smelter", "GA-6N", components=[component("miner", "GA-ORE")])
    )
    propagate(gallium.id)
    for yard in (yard_a, yard_b):
        declaration = submit(
            yard, make_payload(yard.slug, "RADAR", components=[component("smelter", "GA-6N")])
        )
        result = propagate(declaration.id)
        assert result.opened == [] and len(result.linked) == 1
    linked = requests(session_factory, part_number="GA-6N")
    assert {r.requester_id for r in linked} == {yard_a.organization.id, yard_b.organization.id}
    assert all(r.status == "answered" and r.declaration_id == gallium.id for r in linked)
    # One answer serves every customer: nobody asked the smelter again, nobody notified it.
    assert count(session_factory, Notification, Notification.organization_id == gallium.issuer_id) == 0
    # The smelter's own request to the miner was linked to the miner's declaration as well.
    [to_miner] = requests(session_factory, part_number="GA-ORE")
    assert to_miner.status == "answered" and to_miner.declaration_id == ore.id


def test_a_component_naming_the_issuer_itself_with_the_same_part_is_a_self_reference_recorded_not_forwarded(
    make_org, make_payload, submit, propagate, session_factory
):
    yard = make_org("yard")
    declaration = submit(
        yard,
        make_payload(
            "yard",
            "FRIGATE",
            components=[component("yard", "FRIGATE"), component("yard", "MAST-1")],  # the second: in-house
        ),
    )
    result = propagate(declaration.id)
    propagate(declaration.id)  # a redelivery records nothing twice
    assert result.self_references == [0]
    assert count(session_factory, DisclosureRequest) == 0
    with session_factory() as session:
        [entry] = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == SELF_REFERENCE)).all()
    assert entry.subject == declaration.id and entry.details["position"] == 0


def test_a_cycle_back_to_a_part_on_the_path_is_recorded_never_asked_and_linked_to_the_declaration(
    make_org, make_payload, submit, propagate, session_factory
):
    a, b = make_org("alpha"), make_org("beta")
    root = submit(a, make_payload("alpha", "P0", components=[component("beta", "P1")]))
    propagate(root.id)
    [to_beta] = requests(session_factory, supplier_id=b.organization.id)
    notes_before = count(session_factory, Notification)
    events_before = count(session_factory, OutboxEvent, OutboxEvent.type == "request.created")
    # Beta answers, listing the very part of alpha whose declaration asked it: A lists B, B lists A.
    answer = submit(
        b, make_payload("beta", "P1", in_response_to=to_beta.id, components=[component("alpha", "P0")])
    )
    result = propagate(answer.id)
    again = propagate(answer.id)  # a redelivery links nothing twice, and audits nothing twice
    assert result.cycles == again.cycles == [(0, a.organization.id, "P0")]
    # Not asked (alpha declared P0 already, and asking would go round the cycle), but linked: beta is a
    # customer of alpha's P0 as it would be had it answered without in_response_to.
    [link] = requests(session_factory, supplier_id=a.organization.id)
    assert (result.opened, result.linked, result.existing) == ([], [link.id], 0)
    assert (again.opened, again.linked, again.existing) == ([], [], 1)
    assert (link.requester_id, link.part_number, link.parent_id) == (b.organization.id, "P0", to_beta.id)
    assert (link.status, link.declaration_id, link.source_declaration_id) == ("answered", root.id, answer.id)
    # A link announces nothing: no event (nothing is forwarded from it), no notification for alpha.
    assert count(session_factory, Notification) == notes_before
    assert count(session_factory, OutboxEvent, OutboxEvent.type == "request.created") == events_before
    with session_factory() as session:
        [entry] = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == CYCLE)).all()
        assert customer_ids(session, session.get(Declaration, root.id)) == {b.organization.id}
    assert entry.subject == answer.id and entry.details["parent_id"] == to_beta.id


def test_a_cycle_links_the_current_version_and_leaves_self_references_and_other_components_as_they_were(
    make_org, make_payload, submit, propagate, session_factory
):
    oem, a, b = make_org("oem"), make_org("alpha"), make_org("beta")
    gamma = make_org("gamma")
    with session_factory() as session:
        asked = create_request(
            session, session.get(Organization, oem.organization.id), supplier_slug="alpha", part_number="P0"
        )
        session.commit()
    v1 = submit(a, make_payload("alpha", "P0", in_response_to=asked.id, components=[component("beta", "P1")]))
    propagate(v1.id)
    [to_beta] = requests(session_factory, supplier_id=b.organization.id)
    v2 = submit(a, make_payload("alpha", "P0", supersedes=v1.id, components=[component("beta", "P1")]))
    answer = submit(
        b,
        make_payload(
            "beta",
            "P1",
            in_response_to=to_beta.id,
            components=[
                component("beta", "P1"),  # a self-reference: nobody sends a request to itself
                component("alpha", "P0"),  # the cycle: alpha's P0 is on the path above
                component("gamma", "P2"),  # off the path: asked as ever
            ],
        ),
    )
    result = propagate(answer.id)
    assert result.self_references == [0] and result.cycles == [(1, a.organization.id, "P0")]
    [to_gamma] = requests(session_factory, supplier_id=gamma.organization.id)
    assert result.opened == [to_gamma.id] and to_gamma.status == "open"
    [link] = requests(session_factory, requester_id=b.organization.id, supplier_id=a.organization.id)
    assert result.linked == [link.id]
    assert (link.status, link.declaration_id, link.parent_id) == ("answered", v2.id, to_beta.id)
    assert requests(session_factory, requester_id=b.organization.id, supplier_id=b.organization.id) == []
    with session_factory() as session:
        actions = session.scalars(select(AuditLogEntry.action).where(AuditLogEntry.subject == answer.id))
        assert sorted(actions) == [CYCLE, SELF_REFERENCE]


def test_a_batch_links_a_cycle_once_as_one_by_one_would(
    make_org, make_payload, submit, propagate, session_factory, settings
):
    a, b = make_org("alpha"), make_org("beta")
    root = submit(a, make_payload("alpha", "P0", components=[component("beta", "P1")]))
    propagate(root.id)
    [to_beta] = requests(session_factory, supplier_id=b.organization.id)
    answer = submit(
        b, make_payload("beta", "P1", in_response_to=to_beta.id, components=[component("alpha", "P0")])
    )
    with session_factory() as session:
        results = propagate_declarations(session, [answer.id, root.id, answer.id], now=NOW, settings=settings)
        session.commit()
    assert [(len(r.linked), r.existing, len(r.cycles)) for r in results] == [(1, 0, 1), (0, 1, 0), (0, 1, 1)]
    assert [r.status for r in requests(session_factory, supplier_id=a.organization.id)] == ["answered"]
    assert count(session_factory, AuditLogEntry, AuditLogEntry.action == CYCLE) == 1


def test_a_superseding_version_keeps_the_old_forwarded_requests_and_asks_only_for_new_components(
    make_org, make_payload, submit, propagate, session_factory
):
    oem, tier1 = make_org("oem"), make_org("tier1")
    make_org("old-supplier"), make_org("new-supplier")
    with session_factory() as session:
        asked = create_request(
            session,
            session.get(Organization, oem.organization.id),
            supplier_slug="tier1",
            part_number="TRM",
            now=NOW,
        )
        session.commit()
    v1 = submit(
        tier1,
        make_payload("tier1", "TRM", in_response_to=asked.id, components=[component("old-supplier", "A")]),
    )
    propagate(v1.id)
    v2 = submit(
        tier1,
        make_payload(
            "tier1",
            "TRM",
            supersedes=v1.id,
            components=[component("old-supplier", "A"), component("new-supplier", "B")],
        ),
    )
    with session_factory() as session:
        # Submit already made the new version answer what the old one answered.
        assert session.get(DisclosureRequest, asked.id).declaration_id == v2.id
        assert answered_request_id(session, v2) == asked.id
    result = propagate(v2.id)
    assert len(result.opened) == 1 and result.existing == 1
    forwarded = requests(session_factory, requester_id=tier1.organization.id)
    assert sorted(r.part_number for r in forwarded) == ["A", "B"]
    assert all(r.parent_id == asked.id for r in forwarded)  # the new one hangs under the same request


def test_a_late_event_of_a_superseded_version_still_forwards_its_components_once(
    make_org, make_payload, submit, propagate, session_factory
):
    yard = make_org("yard")
    make_org("one"), make_org("two")
    v1 = submit(yard, make_payload("yard", "SHIP", components=[component("one", "A")]))
    v2 = submit(yard, make_payload("yard", "SHIP", supersedes=v1.id, components=[component("two", "B")]))
    # The newer version's event is handled first; the older one arrives late (queues do not order).
    propagate(v2.id)
    propagate(v1.id)
    propagate(v2.id)
    assert sorted(r.part_number for r in requests(session_factory, requester_id=yard.organization.id)) == [
        "A",
        "B",
    ]


def test_a_request_made_by_hand_is_not_asked_again_by_propagation(
    make_org, make_payload, submit, propagate, session_factory
):
    yard, radar = make_org("yard"), make_org("radar")
    with session_factory() as session:
        create_request(
            session, session.get(Organization, yard.organization.id), supplier_slug="radar", part_number="TRM"
        )
        session.commit()
    declaration = submit(yard, make_payload("yard", "SHIP", components=[component("radar", "TRM")]))
    result = propagate(declaration.id)
    assert result.opened == [] and result.existing == 1
    assert (
        count(session_factory, DisclosureRequest, DisclosureRequest.supplier_id == radar.organization.id) == 1
    )


def test_propagating_an_unknown_declaration_raises_not_found(session_factory, settings):
    with session_factory() as session, pytest.raises(NotFoundError):
        propagate_declaration(session, "00000000-0000-4000-8000-000000000000", now=NOW, settings=settings)


def _forwarded(session_factory) -> list[tuple]:
    """Every forwarded request as (requester, supplier, part, parent, status, linked declaration)."""
    with session_factory() as session:
        return sorted(
            session.execute(
                select(
                    DisclosureRequest.requester_id,
                    DisclosureRequest.supplier_id,
                    DisclosureRequest.part_number,
                    DisclosureRequest.parent_id,
                    DisclosureRequest.status,
                    DisclosureRequest.declaration_id,
                ).where(DisclosureRequest.source_declaration_id.is_not(None))
            ).all(),
            key=repr,
        )


def test_propagating_several_declarations_at_once_is_propagating_them_one_after_the_other(
    make_org, make_payload, submit, session_factory, settings
):
    oem, tier1, mine = make_org("oem"), make_org("tier1"), make_org("mine")
    make_org("one"), make_org("two")
    with session_factory() as session:
        asked = create_request(
            session, session.get(Organization, oem.organization.id), supplier_slug="tier1", part_number="T"
        )
        session.commit()
    ore = submit(mine, make_payload("mine", "ORE"))
    v1 = submit(
        tier1,
        make_payload(
            "tier1",
            "T",
            in_response_to=asked.id,
            components=[component("one", "A"), component("mine", "ORE"), component("tier1", "T")],
        ),
    )
    # A new version naming the same component again, and one more: in one batch with the first.
    v2 = submit(
        tier1,
        make_payload(
            "tier1", "T", supersedes=v1.id, components=[component("one", "A"), component("two", "B")]
        ),
    )
    ids = [ore.id, v1.id, v2.id, v1.id]  # a message delivered twice, too
    # Counted from here: asking by hand made a notification and an event as well.
    notes_before = count(session_factory, Notification)
    events_before = count(session_factory, OutboxEvent, OutboxEvent.type == "request.created")
    with session_factory() as session:
        results = propagate_declarations(session, ids, now=NOW, settings=settings)
        session.commit()
    batched = _forwarded(session_factory)
    notes = count(session_factory, Notification) - notes_before
    events = count(session_factory, OutboxEvent, OutboxEvent.type == "request.created") - events_before
    assert [r.declaration_id for r in results] == ids
    assert [(len(r.opened), len(r.linked), r.existing) for r in results] == [
        (0, 0, 0),
        (1, 1, 0),
        (1, 0, 1),
        (0, 0, 2),
    ]
    assert results[1].self_references == [2]
    assert all(r.parent_id == asked.id for r in results[1:])

    # The same, one by one, from scratch.
    with session_factory() as session:
        session.execute(delete(Notification))
        session.execute(delete(OutboxEvent).where(OutboxEvent.type == "request.created"))
        session.execute(delete(DisclosureRequest).where(DisclosureRequest.source_declaration_id.is_not(None)))
        session.commit()
    for declaration_id in ids:
        with session_factory() as session:
            propagate_declaration(session, declaration_id, now=NOW, settings=settings)
            session.commit()
    assert _forwarded(session_factory) == batched
    assert count(session_factory, Notification) == notes == 2
    assert count(session_factory, OutboxEvent, OutboxEvent.type == "request.created") == events == 2


def test_a_batch_with_an_unknown_declaration_changes_nothing(
    make_org, make_payload, submit, session_factory, settings
):
    yard = make_org("yard")
    make_org("radar")
    declaration = submit(yard, make_payload("yard", "SHIP", components=[component("radar", "TRM")]))
    with session_factory() as session, pytest.raises(NotFoundError):
        propagate_declarations(
            session, [declaration.id, "00000000-0000-4000-8000-000000000000"], now=NOW, settings=settings
        )
    assert count(session_factory, DisclosureRequest) == 0
