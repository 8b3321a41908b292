"""Database plumbing: the declarative base, column types, engines and sessions.

Services take a `Session` and never commit; the entrypoint (an HTTP request, a bus message, a CLI
command) owns the transaction.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, String, create_engine, event, func, make_url, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

# Predictable constraint names, so migrations can drop and alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; tiertrace stores UTC-aware timestamps only")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store naive UTC there and put the zone back on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONDocument(TypeDecorator[Any]):
    """A JSON document: JSONB on PostgreSQL, JSON text elsewhere."""

    impl = JSON()
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument()}


def new_id() -> str:
    """A new random UUID as text (the id format of requests, events and declarations)."""
    return str(uuid.uuid4())


def canonical_id(text: str) -> str:
    """A UUID id as stored: the canonical lower-case hyphenated form of any spelling `uuid.UUID` reads
    (no hyphens, braces, urn:uuid:, capitals); text that is no UUID, lower-cased (it matches nothing)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text.lower()


def utcnow() -> datetime:
    return datetime.now(UTC)


def id_column_type() -> String:
    return String(36)


#: Seconds a new PostgreSQL connection may take before it fails (a transient error the bus retries).
POSTGRESQL_CONNECT_TIMEOUT = 10


def make_engine(url: str, *, pool: bool = True, pre_ping: bool = True) -> Engine:
    """An engine for `url` with the per-dialect settings tiertrace relies on.

    `pre_ping` tests a pooled PostgreSQL connection with a round trip before each checkout; callers that
    retry a transaction which lost its connection anyway (the bus worker) turn it off.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "factory": _serialized_connection(url)},
            json_serializer=dump_stored_json,
            **({} if pool else {"poolclass": NullPool}),
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # Without a connect timeout, a database host that drops packets holds a connection attempt (and a
    # worker's SIGTERM behind it) for the OS's TCP timeout, minutes; `?connect_timeout=N` in the URL wins.
    given = make_url(url).query
    connect_args = (
        {"connect_timeout": POSTGRESQL_CONNECT_TIMEOUT}
        if url.startswith("postgresql") and "connect_timeout" not in given
        else {}
    )
    return create_engine(
        url,
        pool_pre_ping=pre_ping,
        connect_args=connect_args,
        json_serializer=dump_stored_json,
        json_deserializer=load_stored_json,
        **({} if pool else {"poolclass": NullPool}),
    )


#: How JSON columns are written, on both dialects. NaN and Infinity are no JSON: PostgreSQL's JSONB refuses
#: them, and SQLite would store them for every later reader to choke on, so both refuse them here alike
#: (a figure beyond the float range is stored as null: tiertrace.chains.merge).
dump_stored_json = functools.partial(json.dumps, allow_nan=False)

#: Floats at or above this are all whole, and no longer count units exactly: they stay floats.
EXACT_INTEGER_LIMIT = 2**53


def _stored_json_int(text: str) -> int | float:
    """A JSON integer read back from the database: an int below 2**53, else the float it was stored from."""
    value = int(text)
    return value if abs(value) < EXACT_INTEGER_LIMIT else float(value)


#: How JSON columns are decoded on PostgreSQL. JSONB keeps numbers as `numeric` and writes a large float
#: without an exponent (1e+300 comes back as "1000...0"), which the json module would read as an int:
#: wrong in kind, and past 64 bits more than the API's JSON writer (orjson) can write. The integers that
#: tiertrace itself stores (ids, counts, tiers) are all far below 2**53.
load_stored_json = functools.partial(json.loads, parse_int=_stored_json_int)


#: One lock per SQLite database in this process, shared by every engine on that file.
_sqlite_locks: dict[str, threading.RLock] = {}
_sqlite_locks_guard = threading.Lock()


def _sqlite_lock(url: str) -> threading.RLock:
    with _sqlite_locks_guard:
        return _sqlite_locks.setdefault(url, threading.RLock())


def _serialized_connection(url: str) -> type[sqlite3.Connection]:
    """A sqlite3.Connection class whose transactions take this process's lock for the database.

    SQLite admits one writer at a time. Left to itself, a waiting connection polls with sleeps of up
    to 100 ms (SQLite's busy handler), which made the p99 of a busy embedded portal hundreds of
    milliseconds. Threads of one process queue on a Python lock instead and start the moment the
    previous transaction ends; other processes (a CLI command beside `tiertrace serve`) still meet
    SQLite's own lock and busy_timeout.
    """
    lock = _sqlite_lock(url)

    class SerializedConnection(sqlite3.Connection):
        holds_lock = False
        database_url = url
        #: The wal_autocheckpoint this connection was given last (`_sqlite_autocheckpoint_frames`).
        autocheckpoint_frames = 0

        def acquire(self) -> None:
            lock.acquire()
            self.holds_lock = True

        def _release(self) -> None:
            if self.holds_lock:
                self.holds_lock = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._release()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._release()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._release()

    return SerializedConnection


def _sqlite_begin(connection: Any) -> None:
    # pysqlite defers BEGIN until the first write, so two transactions that read and then write can
    # deadlock on the lock upgrade. BEGIN IMMEDIATE takes the write lock up front: SQLite serves one
    # writer at a time anyway.
    dbapi_connection = connection.connection.dbapi_connection
    dbapi_connection.acquire()
    try:
        frames = _sqlite_autocheckpoint_frames(dbapi_connection.database_url)
        if dbapi_connection.autocheckpoint_frames != frames:  # a checkpointer started or stopped
            _set_autocheckpoint(dbapi_connection, frames)
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        dbapi_connection._release()
        raise


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across application crashes under WAL
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA journal_size_limit={SQLITE_JOURNAL_SIZE_LIMIT}")
    cursor.close()
    _set_autocheckpoint(dbapi_connection, _sqlite_autocheckpoint_frames(dbapi_connection.database_url))


def _set_autocheckpoint(dbapi_connection: Any, frames: int) -> None:
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={frames}").close()
    dbapi_connection.autocheckpoint_frames = frames


#: SQLite's own checkpoint threshold in WAL frames (pages): a commit that leaves at least this many
#: frames in the WAL checkpoints it before it returns. Kept by every process without a checkpointer.
SQLITE_AUTOCHECKPOINT_FRAMES = 1000
#: The threshold while a `SQLiteCheckpointer` runs for the database in this process: reached only when
#: the checkpointer falls behind or stops, it bounds the WAL (~40 MiB at 4 KiB pages) all the same.
SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES = 10_000
#: A WAL file larger than this (after one huge transaction) is cut back to it when the WAL is rewound.
SQLITE_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

#: Seconds a checkpointer waits for this process's transaction in progress before it tries next round.
SQLITE_CHECKPOINT_LOCK_WAIT = 1.0

#: Frames a pass under the lock may be left to copy: a few transactions' worth.
SQLITE_CHECKPOINT_CAUGHT_UP_FRAMES = 50

#: Checkpointers running in this process, per database URL (`start_sqlite_checkpointer`).
_sqlite_checkpointers: dict[str, int] = {}


def _sqlite_autocheckpoint_frames(url: str) -> int:
    if _sqlite_checkpointers.get(url):
        return SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES
    return SQLITE_AUTOCHECKPOINT_FRAMES


class SQLiteCheckpointer:
    """Checkpoints a SQLite database's WAL from a thread of its own, off the request path.

    Left to SQLite, the commit that takes the WAL past 1,000 frames copies them into the database file
    and syncs it (5-15 ms here) while it holds this process's lock (`_serialized_connection`), so every
    request queued behind it waits too: the p99 of the embedded portal. While a checkpointer runs, this
    process's connections checkpoint only past `SQLITE_FALLBACK_AUTOCHECKPOINT_FRAMES` (its safety net),
    and every `interval` seconds the thread runs a PASSIVE checkpoint on its own connection, without the
    lock: PASSIVE waits for no one and blocks neither readers nor the writer.

    A PASSIVE checkpoint does not rewind the WAL: SQLite starts writing it from the beginning again only
    when a transaction begins with every frame already copied, which a busy portal, always with a
    transaction open, never offers. So once the WAL holds `rewind_frames`, the thread catches up without
    the lock, then takes it for a last pass that copies what was committed meanwhile (0.9-1.9 ms on
    average here, with its two syncs), and the next transaction rewinds the WAL. Durability is
    unchanged: a commit is in the WAL when it returns (synchronous=NORMAL: it survives a crash of the
    application, and a checkpoint syncs it to disk).
    """

    def __init__(self, url: str, *, interval: float = 0.5, rewind_frames: int = SQLITE_AUTOCHECKPOINT_FRAMES):
        database = _sqlite_file(url)
        if database is None:
            raise ValueError(f"{url} is no SQLite database file: nothing to checkpoint")
        self.url = url
        self.interval = interval
        self.rewind_frames = rewind_frames
        self.stopping = threading.Event()
        self._lock = _sqlite_lock(url)
        self._connection = sqlite3.connect(
            database[0], uri=database[1], isolation_level=None, check_same_thread=False
        )
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._registered = False

    def start(self) -> None:
        with _sqlite_locks_guard:
            _sqlite_checkpointers[self.url] = _sqlite_checkpointers.get(self.url, 0) + 1
        self._registered = True
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread; this process's connections checkpoint as SQLite does by default again."""
        self.stopping.set()
        if self._registered:
            self._registered = False
            with _sqlite_locks_guard:
                _sqlite_checkpointers[self.url] -= 1
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self._connection.close()

    def checkpoint(self) -> tuple[int, int]:
        """One round; the frames in the WAL and how many of them are in the database file after it."""
        log_frames, checkpointed = self._passive()
        if log_frames < self.rewind_frames:
            return log_frames, checkpointed
        # Each pass copies what was committed during the one before: catch up without the lock, so
        # that the pass under it has next to nothing left to copy and sync.
        for _ in range(3):
            copied_before = checkpointed
            log_frames, checkpointed = self._passive()
            if abs(checkpointed - copied_before) <= SQLITE_CHECKPOINT_CAUGHT_UP_FRAMES:
                break
        if self._lock.acquire(timeout=SQLITE_CHECKPOINT_LOCK_WAIT):
            try:
                log_frames, checkpointed = self._passive()
            finally:
                self._lock.release()
        return log_frames, checkpointed

    def _passive(self) -> tuple[int, int]:
        _busy, log_frames, checkpointed = self._connection.execute(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ).fetchone()
        return log_frames, checkpointed

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.checkpoint()
            except sqlite3.Error:
                # The database's own checkpoints (past the fallback threshold) keep the WAL bounded.
                log.exception("checkpointing %s failed; trying again in %s s", self.url, self.interval)


def _sqlite_file(url: str) -> tuple[str, bool] | None:
    """The file name of a SQLite URL and whether it is an URI, as sqlite3.connect takes them; None for
    an in-memory database or another dialect."""
    if not url.startswith("sqlite"):
        return None
    args, kwargs = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    name = str(args[0])
    if name == ":memory:" or "mode=memory" in name:
        return None
    return name, bool(kwargs.get("uri"))


def start_sqlite_checkpointer(url: str, **options: Any) -> SQLiteCheckpointer | None:
    """A running `SQLiteCheckpointer` for `url` (`stop` it on shutdown), or None for any other database
    (PostgreSQL, in-memory SQLite).

    For processes that serve: the portal of `tiertrace serve`. Short commands leave checkpoints to SQLite.
    """
    if _sqlite_file(url) is None:
        return None
    checkpointer = SQLiteCheckpointer(url, **options)
    checkpointer.start()
    return checkpointer


def begin_snapshot(session: Session) -> None:
    """Commit `session`'s work so far and begin its next transaction as one read snapshot.

    For the entrypoints of reads of many statements that must agree with each other: a chain view reads
    the root's rollup, then the rows below it level by level, and an audit report reads several chains.
    Under PostgreSQL's default READ COMMITTED each statement sees the newest commit, so a merge committing
    in between gave a view listing a declaration that its own rollup and coverage did not count yet.
    REPEATABLE READ on PostgreSQL (the level is reset when the connection goes back to the pool); a
    SQLite transaction is a snapshot already. The reads it serves write only new audit-log rows, which a
    snapshot inserts without conflict (updating rows that others change could fail to serialise).
    """
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


#: Largest IN (...) list sent in one statement (SQLite allows 32,766 variables; PostgreSQL more).
IN_CHUNK = 500


def chunks(items: Iterable[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    """`items` in lists of at most `size`, for IN clauses that must stay under the driver's limits."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def whole_as_int(value: float) -> int | float:
    """Whole numbers as ints (a quantity of 4 reads 4, not 4.0), as the API shows them.

    Only below 2**53: a larger float shown as an int would claim a precision it lacks, and past 64 bits
    the API's JSON writer (orjson) cannot write it at all.
    """
    return int(value) if abs(value) < EXACT_INTEGER_LIMIT and float(value).is_integer() else float(value)


def advisory_xact_lock(session: Session, *keys: int) -> None:
    """Hold PostgreSQL transaction-level advisory locks `keys` (signed 64-bit integers) until the
    transaction ends, taken in ascending order so that two holders never wait for each other in a cycle.
    Nothing on SQLite: every transaction there begins IMMEDIATE, the database's one write lock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        session.execute(select(func.pg_advisory_xact_lock(key)))
