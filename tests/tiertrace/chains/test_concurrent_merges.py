"""Transactions that write rollups overlapping in time lose none of each other's work.

Each test holds one writer (a merge or a full rebuild) between reading the state and storing what it
computed from it (`rollup_support.held_while`), files a new version of a part while it is held, lets
another writer handle that version, and only then lets the held writer store and commit. Under
PostgreSQL's READ COMMITTED the held writer used to overwrite the newer rows with figures from the older
state: a lost update that stayed until some later event touched those rows. On SQLite the held writer's
BEGIN IMMEDIATE makes the others wait from their first statement, so the same interleaving has always come
out right there.
"""

from __future__ import annotations

import pytest
from rollup_support import accepted, file_ore_in_part, held_while, merge, stored_and_rebuilt

from tiertrace.chains.services import handle_events, rebuild_all


@pytest.fixture
def ore_in_part(make_org, make_payload, submit, session_factory):
    return file_ore_in_part(make_org, make_payload, submit, session_factory)


def rebuild(session_factory) -> None:
    """A full rebuild in a transaction of its own."""
    with session_factory() as session:
        rebuild_all(session)
        session.commit()


def test_a_merge_holding_older_state_does_not_undo_a_newer_merge(session_factory, monkeypatch, ore_in_part):
    ore, part, file_again = ore_in_part

    # The held merge is a late delivery of ORE-1's event: it reads ORE-1 as current and PART-1 above it.
    held_while(
        session_factory,
        monkeypatch,
        lambda session: handle_events(session, accepted(ore.id)),
        lambda: merge(session_factory, accepted(file_again().id)),
    )

    stored, rebuilt = stored_and_rebuilt(session_factory)
    assert stored[part.id]["rollup"]["Ga"]["mass_g"] == 10.0
    assert stored == rebuilt


def test_a_rebuild_holding_older_state_does_not_undo_a_merge(session_factory, monkeypatch, ore_in_part):
    _, part, file_again = ore_in_part

    held_while(
        session_factory, monkeypatch, rebuild_all, lambda: merge(session_factory, accepted(file_again().id))
    )

    stored, rebuilt = stored_and_rebuilt(session_factory)
    assert stored[part.id]["rollup"]["Ga"]["mass_g"] == 10.0
    assert stored == rebuilt


def test_a_merge_holding_older_state_does_not_undo_a_rebuild(session_factory, monkeypatch, ore_in_part):
    ore, part, file_again = ore_in_part

    def file_again_and_rebuild() -> None:
        file_again()
        rebuild(session_factory)

    held_while(
        session_factory,
        monkeypatch,
        lambda session: handle_events(session, accepted(ore.id)),
        file_again_and_rebuild,
    )

    stored, rebuilt = stored_and_rebuilt(session_factory)
    assert stored[part.id]["rollup"]["Ga"]["mass_g"] == 10.0
    assert stored == rebuilt
