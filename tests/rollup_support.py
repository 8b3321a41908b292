"""Transactions that write rollups, interleaved on purpose, and what the rows should hold (importable as
`rollup_support`: pytest puts this folder on sys.path).

`held_while` holds one writer (a merge or a rebuild) between reading the state and storing what it computed
from it, and lets another one run meanwhile. On PostgreSQL it releases the held writer once the other one
waits for a lock the held one has (or has finished); on SQLite, whose held transaction already holds the
database's write lock, after a short pause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from chain_support import ga_line
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from tiertrace.chains import services
from tiertrace.chains.models import Rollup
from tiertrace.chains.services import rebuild_all
from tiertrace.declarations.models import Declaration

#: Another backend waiting for a lock that the backend `pid` holds (pg_locks is live).
_WAITING_FOR = text(
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND CAST(:pid AS integer) = ANY(pg_blocking_pids(pid))"
)


def accepted(declaration_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The merge consumer's events for one accepted declaration."""
    return [("declaration.accepted", {"declaration_id": declaration_id})]


def held_while(
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    writer: Callable[[Session], Any],
    meanwhile: Callable[[], Any],
) -> Any:
    """Run `writer` in a transaction of its own, held just before it stores its first rows, and commit it
    once `meanwhile` (run in another thread) waits for it or has finished; returns what `meanwhile`
    returned."""
    computed, release = threading.Event(), threading.Event()
    held: dict[str, Any] = {}
    outcome: dict[str, Any] = {}
    errors: list[BaseException] = []
    store = services._upsert

    def upsert_when_released(session: Session, datas: dict[str, dict[str, Any]]) -> None:
        if threading.current_thread() is writer_thread and not computed.is_set():
            if session.get_bind().dialect.name == "postgresql":
                held["pid"] = session.scalar(text("SELECT pg_backend_pid()"))
            computed.set()
            assert release.wait(20)
        store(session, datas)

    def write() -> None:
        try:
            with session_factory() as session:
                writer(session)
                session.commit()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    def run_meanwhile() -> None:
        try:
            outcome["result"] = meanwhile()
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    monkeypatch.setattr(services, "_upsert", upsert_when_released)
    writer_thread = threading.Thread(target=write)
    writer_thread.start()
    assert computed.wait(20), errors
    other = threading.Thread(target=run_meanwhile)
    other.start()
    with session_factory() as observer:
        if observer.get_bind().dialect.name == "postgresql":
            deadline = time.monotonic() + 10
            while (
                other.is_alive()
                and not observer.scalar(_WAITING_FOR, {"pid": held["pid"]})
                and time.monotonic() < deadline
            ):
                time.sleep(0.01)
        else:
            other.join(0.3)  # SQLite: it waits for the held transaction's write lock
    release.set()
    writer_thread.join(20)
    other.join(20)
    assert not writer_thread.is_alive() and not other.is_alive()
    if errors:
        raise errors[0]
    return outcome["result"]


def stored_and_rebuilt(session_factory: sessionmaker[Session]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rows of the current declarations as stored, and as `rebuild_all` computes them from the
    committed state (rolled back)."""
    current = Rollup.declaration_id.in_(select(Declaration.id).where(Declaration.is_current))
    rows = select(Rollup.declaration_id, Rollup.data).where(current)
    with session_factory() as session:
        stored = {declaration_id: data for declaration_id, data in session.execute(rows)}
        rebuild_all(session)
        rebuilt = {declaration_id: data for declaration_id, data in session.execute(rows)}
        session.rollback()
    return stored, rebuilt


def merge(session_factory: sessionmaker[Session], events: list[tuple[str, dict[str, Any]]]) -> None:
    """The merge consumer's transaction for `events`."""
    with session_factory() as session:
        services.handle_events(session, events)
        session.commit()


def file_ore_in_part(
    make_org: Callable[..., Any],
    make_payload: Callable[..., dict[str, Any]],
    submit: Callable[..., Any],
    session_factory: sessionmaker[Session],
) -> tuple[Any, Any, Callable[[], Any]]:
    """ORE-1 (1 g of gallium) from a mine, listed twice in PART-1 by a maker, both merged; and a function
    that files ORE-1 again with 5 g of gallium (committed, not merged)."""
    mine, maker = make_org("mine"), make_org("maker")
    ore = submit(mine, make_payload("mine", "ORE-1", materials=[ga_line(1.0)]))
    part = submit(
        maker,
        make_payload(
            "maker", "PART-1", components=[{"part_number": "ORE-1", "supplier": "mine", "quantity": 2}]
        ),
    )
    merge(session_factory, accepted(ore.id) + accepted(part.id))

    def file_again() -> Any:
        return submit(mine, make_payload("mine", "ORE-1", supersedes=ore.id, materials=[ga_line(5.0)]))

    return ore, part, file_again
