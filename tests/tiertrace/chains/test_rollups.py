"""Materialised rollups: what each event recomputes, order independence, idempotence, full rebuilds."""

from __future__ import annotations

from sqlalchemy import select

from tiertrace.chains.models import Rollup
from tiertrace.chains.services import (
    handle_event,
    handle_events,
    rebuild_all,
    refresh_rollups,
    require_rollup,
)
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import create_request, decline_request
from tiertrace.organizations.models import Organization
from tiertrace.outbox.models import OutboxEvent
from tiertrace.outbox.services import record_event


def stored(session):
    """Every rollup row as (data, generation). Ends the session's transaction: on SQLite every
    transaction holds the write lock (BEGIN IMMEDIATE), and the test writes through other sessions next."""
    session.commit()
    rows = {
        declaration_id: (data, generation)
        for declaration_id, data, generation in session.execute(
            select(Rollup.declaration_id, Rollup.data, Rollup.generation)
        )
    }
    session.commit()
    return rows


def test_every_current_declaration_gets_a_rollup_with_its_figures_and_resolved_children(session, radar_chain):
    rows = stored(session)

    assert set(rows) == {radar_chain.root.id, radar_chain.trm.id, radar_chain.mmic.id, radar_chain.ga.id}
    data = rows[radar_chain.root.id][0]
    assert data["rollup"]["Ga"]["mass_g"] == 12.5
    assert data["rollup"]["Ga"]["facilities"] == {"Jinlu refinery": 12.25}
    assert data["coverage"]["gaps"] == {"open": 1, "unknown_supplier": 1}
    assert [(c["part_number"], c["declaration_id"], c["gap"]) for c in data["children"]] == [
        ("TRM-2040", radar_chain.trm.id, None),
        ("FOIL-2", None, "unknown_supplier"),
        ("CASE-1", None, "open"),
    ]
    assert data["cycle_group"] is None


def test_a_new_leaf_version_recomputes_it_and_every_ancestor_but_nothing_else(
    session, radar_chain, make_org, make_payload, submit, play_events, ga_line
):
    other = make_org("other-oem")
    unrelated = submit(other, make_payload(other.slug, "X-1", materials=[ga_line(1.0)]))
    play_events()
    before = stored(session)

    newer = submit(
        radar_chain.smelter,
        make_payload(
            radar_chain.smelter.slug, "GA-7N", supersedes=radar_chain.ga.id, materials=[ga_line(0.5)]
        ),
    )
    assert play_events() == 1
    after = stored(session)

    touched = {i for i in before if after[i][1] != before[i][1]}
    assert touched == {radar_chain.root.id, radar_chain.trm.id, radar_chain.mmic.id}
    assert after[newer.id][1] == 1
    assert after[unrelated.id] == before[unrelated.id]
    assert after[radar_chain.root.id][0]["rollup"]["Ga"]["mass_g"] == 20.0


def test_a_declined_request_turns_the_requesters_gap_into_declined(session, radar_chain, play_events):
    oem = session.get(Organization, radar_chain.oem.organization.id)
    request = create_request(session, oem, supplier_slug=radar_chain.caser.slug, part_number="CASE-1")
    session.commit()
    play_events()
    decline_request(
        session, session.get(Organization, radar_chain.caser.organization.id), request.id, "secret"
    )
    session.commit()

    assert stored(session)[radar_chain.root.id][0]["coverage"]["gaps"]["open"] == 1
    play_events()

    assert stored(session)[radar_chain.root.id][0]["coverage"]["gaps"] == {
        "declined": 1,
        "unknown_supplier": 1,
    }


def test_an_overdue_request_turns_the_gap_into_overdue(session, radar_chain, play_events):
    oem = session.get(Organization, radar_chain.oem.organization.id)
    request = create_request(session, oem, supplier_slug=radar_chain.caser.slug, part_number="CASE-1")
    session.flush()
    request.status = "overdue"
    record_event(session, "request.overdue", {"request_id": request.id})
    session.commit()
    play_events()

    assert stored(session)[radar_chain.root.id][0]["coverage"]["gaps"] == {
        "overdue": 1,
        "unknown_supplier": 1,
    }


def test_a_request_for_a_part_listed_without_asking_turns_not_requested_into_open(
    session, make_org, make_payload, submit, play_events
):
    buyer = make_org("buyer")
    seller = make_org("seller")
    root = submit(
        buyer,
        make_payload(
            buyer.slug, "BOX", components=[{"part_number": "LID", "supplier": seller.slug, "quantity": 1}]
        ),
    )
    play_events()
    assert stored(session)[root.id][0]["coverage"]["gaps"] == {"not_requested": 1}

    create_request(
        session, session.get(Organization, buyer.organization.id), supplier_slug="seller", part_number="LID"
    )
    session.commit()
    play_events()

    assert stored(session)[root.id][0]["coverage"]["gaps"] == {"open": 1}


def test_events_played_backwards_and_twice_give_the_same_rollups_as_in_order(
    session, session_factory, radar_chain, play_events
):
    in_order = {i: data for i, (data, _) in stored(session).items()}
    session.execute(Rollup.__table__.delete())
    session.commit()
    events = [
        (e.type, e.payload) for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq.desc()))
    ]
    session.commit()

    for event_type, payload in events + events:
        with session_factory() as consumer:
            handle_event(consumer, event_type, payload)
            consumer.commit()

    assert {i: data for i, (data, _) in stored(session).items()} == in_order


def test_all_events_handled_as_one_batch_give_the_rollups_of_one_by_one(
    session, session_factory, radar_chain
):
    one_by_one = {i: data for i, (data, _) in stored(session).items()}
    session.execute(Rollup.__table__.delete())
    session.commit()
    events = [(e.type, e.payload) for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]
    session.commit()

    with session_factory() as consumer:
        recomputed = handle_events(consumer, events + events[::-1])
        consumer.commit()

    assert recomputed == set(one_by_one)
    assert {i: data for i, (data, _) in stored(session).items()} == one_by_one


def test_refreshing_a_parent_first_computes_and_stores_its_missing_children(session, radar_chain):
    session.execute(Rollup.__table__.delete())

    refreshed = refresh_rollups(session, [radar_chain.trm.id])

    assert refreshed == {radar_chain.root.id, radar_chain.trm.id, radar_chain.mmic.id, radar_chain.ga.id}
    assert stored(session)[radar_chain.trm.id][0]["rollup"]["Ga"]["mass_g"] == 1.25


def test_refresh_is_idempotent_and_only_bumps_the_generation(session, radar_chain):
    before = stored(session)

    refresh_rollups(session, [radar_chain.ga.id])
    after = stored(session)

    assert {i: d for i, (d, _) in after.items()} == {i: d for i, (d, _) in before.items()}
    assert after[radar_chain.ga.id][1] == before[radar_chain.ga.id][1] + 1


def test_unknown_ids_and_other_events_change_nothing(session, radar_chain):
    assert refresh_rollups(session, ["00000000-0000-4000-8000-000000000000"]) == set()
    assert handle_event(session, "request.created", {"request_id": "nope"}) == set()
    assert handle_event(session, "something.else", {}) == set()


def test_a_full_rebuild_equals_the_incremental_result(session, radar_chain):
    incremental = {i: data for i, (data, _) in stored(session).items()}
    session.execute(Rollup.__table__.delete())

    assert rebuild_all(session) == 4
    assert {i: data for i, (data, _) in stored(session).items()} == incremental


def test_a_cycle_is_materialised_with_its_group(
    session, make_org, make_payload, submit, play_events, ga_line
):
    alpha = make_org("alpha")
    beta = make_org("beta")
    a = submit(
        alpha,
        make_payload(
            "alpha",
            "A",
            materials=[ga_line(1.0)],
            components=[{"part_number": "B", "supplier": "beta", "quantity": 2}],
        ),
    )
    play_events()
    b = submit(
        beta,
        make_payload(
            "beta",
            "B",
            materials=[ga_line(10.0)],
            components=[{"part_number": "A", "supplier": "alpha", "quantity": 5}],
        ),
    )
    play_events()

    rows = stored(session)
    assert rows[a.id][0]["cycle_group"] == sorted([a.id, b.id])
    assert rows[a.id][0]["rollup"]["Ga"]["mass_g"] == 21.0
    assert rows[b.id][0]["rollup"]["Ga"]["mass_g"] == 15.0
    assert rows[a.id][0]["coverage"]["gaps"] == {"cycle": 1}


def test_require_rollup_recomputes_a_superseded_declaration_over_its_own_contents(
    session, radar_chain, make_payload, submit, play_events
):
    submit(
        radar_chain.radar,
        make_payload(radar_chain.radar.slug, "TRM-2040", supersedes=radar_chain.trm.id),
    )
    play_events()

    old = require_rollup(session, radar_chain.trm.id)

    assert old["rollup"]["Ga"]["mass_g"] == 1.25
    assert session.get(DisclosureRequest, session.scalars(select(DisclosureRequest.id)).first()) is not None
