"""The merge's queries take their ids a chunk at a time: a batch larger than one chunk merges the same."""

from __future__ import annotations

import functools

from sqlalchemy import event, select

from tiertrace import db
from tiertrace.chains import services
from tiertrace.chains.models import Rollup
from tiertrace.chains.services import handle_events
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization


def rollups(session):
    """Every rollup row's data by declaration id; ends the session's transaction (SQLite's write lock)."""
    session.commit()
    rows = {i: data for i, data in session.execute(select(Rollup.declaration_id, Rollup.data))}
    session.commit()
    return rows


def test_a_batch_spread_over_many_chunks_refreshes_what_one_chunk_does(
    session, session_factory, radar_chain, make_payload, submit, play_events, monkeypatch
):
    # A second chain beside the radar chain: a box listing a casing. Each event below needs its own chunk.
    caser, stranger = radar_chain.caser, radar_chain.stranger
    case = submit(caser, make_payload(caser.slug, "CASE-2"))
    box = submit(
        stranger,
        make_payload(
            stranger.slug,
            "BOX",
            components=[{"part_number": "CASE-2", "supplier": caser.slug, "quantity": 2}],
        ),
    )
    asking = [
        create_request(
            session,
            session.get(Organization, requester.organization.id),
            supplier_slug=caser.slug,
            part_number=part,
        )
        for requester, part in ((radar_chain.oem, "CASE-1"), (stranger, "CASE-2"))
    ]
    session.commit()
    play_events()
    accepted = [("declaration.accepted", {"declaration_id": i}) for i in (radar_chain.ga.id, case.id)]
    asked = [("request.created", {"request_id": request.id}) for request in asking]

    monkeypatch.setattr(services, "chunks", functools.partial(db.chunks, size=1))
    with session_factory() as consumer:
        chunked = handle_events(consumer, accepted), handle_events(consumer, asked)
        consumer.commit()
    chunked_rollups = rollups(session)
    monkeypatch.undo()
    with session_factory() as consumer:
        assert (handle_events(consumer, accepted), handle_events(consumer, asked)) == chunked
        consumer.commit()

    chain = {radar_chain.ga.id, radar_chain.mmic.id, radar_chain.trm.id, radar_chain.root.id}
    assert chunked == (chain | {case.id, box.id}, {radar_chain.root.id, box.id})
    assert rollups(session) == chunked_rollups


def test_no_events_query_nothing_and_request_events_look_once_for_them_all(session, engine, radar_chain):
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        # The rollup lock (PostgreSQL) is a SELECT too, but no query of the data.
        if statement.lstrip().upper().startswith("SELECT") and "pg_advisory_xact_lock" not in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert handle_events(session, []) == set()
        assert statements == []
        unknown = {"request_id": "00000000-0000-4000-8000-000000000000"}
        assert handle_events(session, [("request.created", unknown), ("request.declined", unknown)]) == set()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1  # one look for both events' declarations, none found
