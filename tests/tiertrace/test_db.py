"""Database plumbing: how SQLite transactions of one process take turns."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, text

from tiertrace import db
from tiertrace.db import POSTGRESQL_CONNECT_TIMEOUT, make_engine


def _held_by_another_thread(lock) -> bool:
    result: list[bool] = []

    def probe() -> None:
        acquired = lock.acquire(blocking=False)
        if acquired:
            lock.release()
        result.append(not acquired)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return result[0]


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_sqlite_transaction_holds_the_process_lock_until_it_ends(tmp_path, end):
    url = f"sqlite:///{tmp_path / 'lock.sqlite3'}"
    engine = db.make_engine(url)
    try:
        lock = db._sqlite_locks[url]
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
            connection.commit()
            assert not _held_by_another_thread(lock)
            connection.execute(text("INSERT INTO t VALUES (1)"))
            # Waiting threads queue on this lock (woken at once), not in SQLite's sleeping busy handler.
            assert _held_by_another_thread(lock)
            getattr(connection, end)()
            assert not _held_by_another_thread(lock)
    finally:
        engine.dispose()


def test_engines_on_the_same_sqlite_file_share_one_lock(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = db.make_engine(url), db.make_engine(url)
    try:
        with first.connect() as connection:
            connection.execute(text("SELECT 1"))
            assert _held_by_another_thread(db._sqlite_locks[url])
            connection.rollback()
        with second.connect() as connection:
            connection.execute(text("SELECT 1"))
            assert _held_by_another_thread(db._sqlite_locks[url])
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.parametrize(
    ("url", "timeout"),
    [
        ("postgresql://u@db.example/tt", POSTGRESQL_CONNECT_TIMEOUT),
        ("postgresql+psycopg://u@db.example/tt", POSTGRESQL_CONNECT_TIMEOUT),
        ("postgresql://u@db.example/tt?connect_timeout=3", "3"),
    ],
)
def test_a_postgresql_connection_attempt_gives_up_after_a_timeout(url, timeout):
    """Before: no timeout, so a host dropping packets held a worker (and its SIGTERM) for minutes."""
    engine = make_engine(url)
    seen = {}

    @event.listens_for(engine, "do_connect")
    def capture(dialect, conn_rec, cargs, cparams):
        seen.update(cparams)
        raise ConnectionAbortedError("captured, not connecting")

    with pytest.raises(Exception, match="captured"):
        engine.connect()
    engine.dispose()
    assert str(seen["connect_timeout"]) == str(timeout)
