"""Database plumbing: how SQLite transactions of one process take turns."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from tiertrace import db


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
