"""SQLite's WAL checkpoints: in a background thread of a serving process, never inside a request's commit,
and the WAL bounded whatever the thread does."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

import cli.serve as serve_module
from cli.main import main
from tiertrace import db
from tiertrace.db import (
    SQLITE_AUTOCHECKPOINT_FRAMES,
    SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES,
    make_engine,
    make_session_factory,
    start_sqlite_checkpointer,
)

#: Rows of this many bytes fill a page each (SQLite's default page size is 4096).
ROW = 3000


@pytest.fixture
def database(tmp_path):
    """(url, path of the database file, session factory) of a new SQLite database with one table."""
    path = tmp_path / "wal.sqlite3"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"))
    yield url, path, make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def checkpointers():
    """Checkpointers a test starts (`start(url, ...)`), stopped at its end whatever happens."""
    started: list[db.SQLiteCheckpointer] = []

    def start(url: str, **options) -> db.SQLiteCheckpointer:
        checkpointer = start_sqlite_checkpointer(url, **options)
        assert checkpointer is not None
        started.append(checkpointer)
        return checkpointer

    yield start
    for checkpointer in started:
        checkpointer.stop()


def wal_frames(path: Path) -> int:
    """How many frames the WAL file has room for: its size, which only a rewind stops from growing."""
    wal = Path(f"{path}-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return max(0, size - 32) // (4096 + 24)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def commit_pages(session_factory, transactions: int, pages: int, *, path: Path | None = None) -> int:
    """`transactions` commits of `pages` new pages each; the most WAL frames seen after a commit."""
    peak = 0
    for _ in range(transactions):
        with session_factory() as session:
            session.execute(
                text("INSERT INTO blobs (body) VALUES (:body)"),
                [{"body": os.urandom(ROW)} for _ in range(pages)],
            )
            session.commit()
        if path is not None:
            peak = max(peak, wal_frames(path))
    return peak


def test_a_serving_process_never_checkpoints_inside_a_commit(database, checkpointers):
    """Before: the commit that took the WAL past 1,000 frames copied them into the database file and
    synced it while holding the process's lock: the spikes in the portal's p99."""
    url, path, session_factory = database
    checkpointers(url, interval=3600)  # running, but not before the test is over
    before = digest(path)

    commit_pages(session_factory, transactions=300, pages=10)

    # Only a checkpoint writes to the database file in WAL mode: it has not changed.
    assert wal_frames(path) > 2 * SQLITE_AUTOCHECKPOINT_FRAMES
    assert digest(path) == before


def test_a_process_without_a_checkpointer_keeps_sqlites_own_checkpoints(database):
    """Short commands (demo, db rebuild-rollups, chain, audit) run no thread: SQLite checkpoints there."""
    _url, path, session_factory = database
    before = digest(path)

    peak = commit_pages(session_factory, transactions=300, pages=10, path=path)

    assert digest(path) != before
    assert peak <= SQLITE_AUTOCHECKPOINT_FRAMES + 20


def test_the_checkpointer_rewinds_the_wal_under_constant_writes(database, checkpointers):
    """A PASSIVE checkpoint alone never rewinds the WAL while a transaction is always open: without the
    round under the lock, it grew to the fallback threshold."""
    url, path, session_factory = database
    target = 2 * SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES  # pages, and so at least as many WAL frames
    written = [0]

    def write() -> None:
        while written[0] < target:
            commit_pages(session_factory, transactions=1, pages=10)
            written[0] += 10

    checkpointers(url, interval=0.05)
    writers = [threading.Thread(target=write, daemon=True) for _ in range(2)]
    for writer in writers:
        writer.start()
    peak, deadline = 0, time.monotonic() + 20
    while any(writer.is_alive() for writer in writers) and time.monotonic() < deadline:
        peak = max(peak, wal_frames(path))
        time.sleep(0.005)
    finished = not any(writer.is_alive() for writer in writers)
    written[0] = target  # stops the writers if the deadline passed first
    for writer in writers:
        writer.join()

    assert finished
    assert peak < SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES / 2


def test_the_wal_stays_bounded_when_the_checkpointer_falls_behind(database, checkpointers):
    url, path, session_factory = database
    checkpointers(url, interval=3600)  # a checkpointer that never comes round

    peak = commit_pages(session_factory, transactions=500, pages=50, path=path)

    assert peak > SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES * 0.9  # no checkpoint before the fallback
    assert peak <= SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES + 60  # and the fallback's, once past it


def test_one_checkpoint_round_copies_the_wal_and_lets_the_next_commit_rewind_it(database, checkpointers):
    url, path, session_factory = database
    checkpointer = checkpointers(url, interval=3600)
    commit_pages(session_factory, transactions=150, pages=10)
    size, before = wal_frames(path), digest(path)

    log_frames, checkpointed = checkpointer.checkpoint()

    assert log_frames == checkpointed >= 1500
    assert digest(path) != before
    commit_pages(session_factory, transactions=100, pages=10)
    assert wal_frames(path) == size  # written from its start again, not appended to


def test_stopping_the_checkpointer_gives_the_connections_sqlites_threshold_back(database, checkpointers):
    url, _path, session_factory = database
    checkpointer = checkpointers(url, interval=3600)

    def threshold() -> int:
        with session_factory() as session:
            return session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()

    assert threshold() == SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES
    thread = checkpointer._thread
    assert thread.daemon  # never keeps the process alive
    checkpointer.stop()
    assert not thread.is_alive()
    assert threshold() == SQLITE_AUTOCHECKPOINT_FRAMES  # the same pooled connection, given 1,000 again


@pytest.mark.parametrize("url", ["postgresql://u@db.example/tt", "sqlite://", "sqlite:///:memory:"])
def test_only_a_sqlite_file_gets_a_checkpointer(url):
    assert start_sqlite_checkpointer(url) is None


@pytest.mark.parametrize(
    "amqp_url", [None, "amqp://guest:guest@127.0.0.1:5672/%2F"], ids=["embedded", "broker"]
)
def test_serve_checkpoints_sqlite_in_its_worker_process_and_stops_on_exit(tmp_path, monkeypatch, amqp_url):
    url = f"sqlite:///{tmp_path / 't.sqlite3'}"
    env = {"TIERTRACE_DATA_DIR": str(tmp_path), "TIERTRACE_DATABASE_URL": url, "TIERTRACE_AMQP_URL": amqp_url}
    options: dict = {}
    monkeypatch.setattr(serve_module._PortalServer, "run", lambda self: options.update(self.options))
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert not db._sqlite_checkpointers.get(url)

    options["post_worker_init"](None)
    try:
        assert db._sqlite_checkpointers.get(url) == 1
        running = [t for t in threading.enumerate() if t.name == "sqlite-checkpointer"]
        assert running
    finally:
        options["worker_exit"](None, None)
    assert not db._sqlite_checkpointers.get(url)
    assert not any(t.is_alive() for t in running)
