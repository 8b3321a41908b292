"""The outbox relay: publish committed outbox rows, mark them sent only once the broker confirmed them.

A pass claims the oldest unsent rows (``SELECT … ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED`` on
PostgreSQL), hands the whole batch to the publisher at once — the confirms are in flight together, one
round trip per batch rather than per message — and, in the same transaction, marks sent exactly the
rows the broker confirmed. A crash anywhere leaves the rest unsent: they are published again later, and
consumers drop the duplicate by its message id. Nothing is lost, and the row locks keep several relays
from publishing the same row at the same time.

The relay sleeps until something commits an outbox row: PostgreSQL's NOTIFY on `NOTIFY_CHANNEL`, or on
SQLite an in-process signal (`on_outbox_commit`), and polls only as a fallback. No pika here: the
publisher is anything with `publish(messages) -> confirms` (worker.rabbitmq.ConfirmingPublisher in
production).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select as select_module
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from schemas.bus import encode_message, routing_key
from tiertrace.db import utcnow
from tiertrace.outbox.models import OutboxEvent
from tiertrace.outbox.services import NOTIFY_CHANNEL, on_outbox_commit
from worker.errors import BusUnavailable
from worker.handlers import Backoff, describe_error, is_transient

log = logging.getLogger(__name__)


_outbox = OutboxEvent.__table__
#: The oldest unsent rows. Rows another relay is publishing right now are skipped, not waited for;
#: SQLite has no row locks (the clause is not rendered) and serialises writers instead.
_CLAIM = (
    select(_outbox.c.seq, _outbox.c.message_id, _outbox.c.type, _outbox.c.version, _outbox.c.payload)
    .where(_outbox.c.sent_at.is_(None))
    .order_by(_outbox.c.seq)
    .with_for_update(skip_locked=True)
)
_MARK_SENT = (
    update(OutboxEvent)
    .where(OutboxEvent.seq.in_(bindparam("seqs", expanding=True)))
    .values(sent_at=bindparam("now"))
)


@dataclass(frozen=True)
class OutgoingMessage:
    """An outbox row ready for the wire."""

    seq: int
    message_id: str
    routing_key: str
    body: bytes


def encode_event(event: OutboxEvent | Any) -> OutgoingMessage:
    """The wire form of an outbox row.

    Not validated again here: `record_events` validated the payload when it wrote the row, and every
    consumer validates what it receives. A row written some other way that breaks the bus schema (a
    producer bug) is sent as it is, and the consumers dead-letter it, so it ends where an operator looks
    instead of being retried here forever.
    """
    return OutgoingMessage(
        seq=event.seq,
        message_id=event.message_id,
        routing_key=routing_key(event.type, event.version),
        body=encode_message(event.message_id, event.type, event.version, event.payload),
    )


class Confirms(Protocol):
    """Publisher confirms of one batch."""

    def wait(self, timeout: float) -> set[str]:
        """Wait until every message is confirmed or failed, or `timeout`; the ids confirmed so far."""
        ...


class Publisher(Protocol):
    """Something that publishes a batch and reports which messages the broker took responsibility for."""

    def publish(self, messages: Sequence[OutgoingMessage]) -> Confirms:
        """Start publishing `messages` (in order). Raises BusUnavailable when it cannot even start."""
        ...


class UrgentWork(Protocol):
    """Counts the work in hand on the path of a hop (worker.rabbitmq.PriorityGate): the consumers that
    are not urgent wait while there is any."""

    def enter(self) -> None:
        """Urgent work began."""
        ...

    def leave(self, count: int = 1) -> None:
        """`count` pieces of urgent work ended."""
        ...


class OutboxWaker:
    """Wakes a relay when outbox rows were committed: PostgreSQL NOTIFY, in-process commits, or a timeout.

    `wait` returns as soon as any wake-up arrived since the previous `wait`, including those that came
    while the caller was busy, so no commit is missed between two passes.

    On PostgreSQL every commit that writes outbox rows NOTIFYs, in this process too, so only the LISTEN
    connection wakes it: the in-process signal of the same commit would come a moment later and run a
    second, empty pass. Elsewhere (SQLite) the in-process signal is the only one.

    The lanes of one relay share a waker: a wake-up ends the `wait` of one lane only, the one sleeping on
    the sources (the others queue behind it), since a second lane would only find the rows claimed.
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine if engine is not None and engine.dialect.name == "postgresql" else None
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._listener: Any = None
        # Guards the pipe against a wake() racing close(): a closed descriptor number can be reused by
        # another file at once, and a late write would land in it.
        self._lock = threading.Lock()
        self._closed = False
        # Held by the lane sleeping on the sources.
        self._sleeping = threading.Lock()
        self._unregister = on_outbox_commit(self.wake) if self._engine is None else None

    def wake(self) -> None:
        """Make the next (or current) `wait` return. Thread-safe, never blocks."""
        with self._lock:
            if self._closed:
                return
            # A full pipe means a wake-up is pending anyway.
            with contextlib.suppress(BlockingIOError):
                os.write(self._write_fd, b"x")

    def _listen(self) -> bool:
        """(Re)open the LISTEN connection; True when it was (re)opened now, so a pass should run."""
        if self._engine is None or self._listener is not None:
            return False
        connection = None
        try:
            raw = self._engine.raw_connection()
            connection = raw.driver_connection
            # Keep this connection out of the pool for good: it stays in LISTEN mode.
            raw.detach()
            assert connection is not None
            # LISTEN must run outside a transaction, and notifications are delivered only between
            # transactions: an autocommit connection gets them as soon as the notifying one commits.
            connection.autocommit = True
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except Exception as exc:
            log.warning(
                "cannot LISTEN on %s (%s); polling until it works", NOTIFY_CHANNEL, describe_error(exc)
            )
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
            return False
        self._listener = connection
        return True

    def _drop_listener(self) -> None:
        if self._listener is not None:
            # Closing a broken connection may fail in any way; it is being thrown away regardless.
            with contextlib.suppress(Exception):
                self._listener.close()
            self._listener = None

    def wait(self, timeout: float, stop: threading.Event | None = None) -> None:
        """Block until a wake-up or `timeout` seconds; at once when `stop` is set (the caller's own stop
        signal: a `wake` that another lane consumed must still end this lane's wait)."""
        deadline = time.monotonic() + timeout
        if not self._sleeping.acquire(timeout=timeout):
            return
        try:
            if stop is not None and stop.is_set():
                return
            self._sleep(max(0.0, deadline - time.monotonic()))
        finally:
            self._sleeping.release()

    def _sleep(self, timeout: float) -> None:
        if self._listen():
            return  # just (re)connected: commits may have gone unnoticed meanwhile
        fds = [self._read_fd]
        if self._listener is not None:
            fds.append(self._listener.fileno())
        try:
            readable, _, _ = select_module.select(fds, [], [], timeout)
        except (OSError, ValueError):
            self._drop_listener()
            return
        if self._read_fd in readable:
            try:
                while os.read(self._read_fd, 4096):
                    pass
            except BlockingIOError:
                pass
        if self._listener is not None and self._listener.fileno() in readable:
            try:
                # Consume what arrived; the payload does not matter, only that something committed.
                for _ in self._listener.notifies(timeout=0):
                    pass
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", describe_error(exc))
                self._drop_listener()

    def close(self) -> None:
        """Stop listening and release the pipe."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            os.close(self._read_fd)
            os.close(self._write_fd)
        if self._unregister is not None:
            self._unregister()
        self._drop_listener()


class OutboxRelay:
    """Moves committed outbox rows to the broker, with confirms, in seq order within a relay."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        publisher: Publisher,
        *,
        batch_size: int = 500,
        confirm_timeout: float = 30.0,
        poll_interval: float = 2.0,
        backoff: Backoff | None = None,
        urgent: UrgentWork | None = None,
    ) -> None:
        """`urgent`: told of every pass, which is on the path of a hop (the event goes from the outbox
        to the broker), so that merge and notify step aside meanwhile."""
        # A pass runs on a Core connection of the sessions' engine: it writes no ORM object, and opening
        # and committing a Session cost about as much CPU as the claim itself, twice on every hop.
        self.engine: Engine = session_factory.kw["bind"]
        self.publisher = publisher
        self.batch_size = batch_size
        self.confirm_timeout = confirm_timeout
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff(first=0.1, cap=5.0)
        self.urgent = urgent
        self._claim = _CLAIM.limit(batch_size)
        self.stopping = threading.Event()
        self.waker: OutboxWaker | None = None
        #: Counters for logs, tests and the benchmark.
        self.published = 0
        self.passes = 0
        #: When `run` last finished a pass without an error (time.time()), for the health file.
        self.last_pass_at: float | None = None

    def publish_pending(self) -> tuple[int, int]:
        """One pass: claim up to `batch_size` unsent rows, publish them, mark the confirmed ones sent.

        Returns (claimed, confirmed). Raises BusUnavailable when the broker is away, and SQLAlchemy's
        errors when the database is; in both cases nothing is marked and the rows are retried.
        """
        self.passes += 1
        if self.urgent is not None:
            self.urgent.enter()
        try:
            return self._publish_pending()
        finally:
            if self.urgent is not None:
                self.urgent.leave()

    def _publish_pending(self) -> tuple[int, int]:
        with self.engine.begin() as connection:
            rows = connection.execute(self._claim).all()
            if not rows:
                return 0, 0
            messages = [encode_event(row) for row in rows]
            confirms = self.publisher.publish(messages)
            # The row locks are held until the confirms are in: another relay cannot publish them too.
            confirmed = confirms.wait(self.confirm_timeout)
            if confirmed:
                connection.execute(
                    _MARK_SENT,
                    {"seqs": [m.seq for m in messages if m.message_id in confirmed], "now": utcnow()},
                )
        if len(confirmed) < len(messages):
            log.warning(
                "%d of %d messages were not confirmed; they stay unsent",
                len(messages) - len(confirmed),
                len(messages),
            )
        self.published += len(confirmed)
        return len(messages), len(confirmed)

    def run(self, waker: OutboxWaker) -> None:
        """Relay until `stop()`: a pass whenever `waker` wakes it, a poll every `poll_interval` seconds.

        Broker or database outages are logged and retried with capped backoff; they never end the loop.
        The lanes of a relay share `waker`; its owner closes it once they have all returned.
        """
        self.waker = waker
        failures = 0
        try:
            while not self.stopping.is_set():
                try:
                    claimed, confirmed = self.publish_pending()
                except Exception as exc:
                    if not (isinstance(exc, BusUnavailable) or is_transient(exc)):
                        log.exception("relay pass failed")
                    else:
                        log.warning("relay pass failed: %s", describe_error(exc))
                    failures += 1
                    self.stopping.wait(self.backoff.delay(failures))
                    continue
                self.last_pass_at = time.time()
                if confirmed < claimed:
                    failures += 1
                    self.stopping.wait(self.backoff.delay(failures))
                    continue
                failures = 0
                if claimed < self.batch_size:
                    waker.wait(self.poll_interval, self.stopping)
        finally:
            self.waker = None

    def stop(self) -> None:
        """Ask `run` to return after the pass in progress (whose confirms it still waits for)."""
        self.stopping.set()
        waker = self.waker
        if waker is not None:
            waker.wake()
