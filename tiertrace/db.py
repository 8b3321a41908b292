"""Database plumbing: the declarative base, column types, engines and sessions.

Services take a `Session` and never commit; the entrypoint (an HTTP request, a bus message, a CLI
command) owns the transaction.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Engine, MetaData, String, create_engine, event, func, make_url, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

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


def _serialized_connection(url: str) -> type[sqlite3.Connection]:
    """A sqlite3.Connection class whose transactions take this process's lock for the database.

    SQLite admits one writer at a time. Left to itself, a waiting connection polls with sleeps of up
    to 100 ms (SQLite's busy handler), which made the p99 of a busy embedded portal hundreds of
    milliseconds. Threads of one process queue on a Python lock instead and start the moment the
    previous transaction ends; other processes (a CLI command beside `tiertrace serve`) still meet
    SQLite's own lock and busy_timeout.
    """
    with _sqlite_locks_guard:
        lock = _sqlite_locks.setdefault(url, threading.RLock())

    class SerializedConnection(sqlite3.Connection):
        holds_lock = False

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
    cursor.close()


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
