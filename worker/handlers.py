"""One set of bus handlers, shared by the RabbitMQ consumers and the embedded bus; no transport here.

`CONSUMERS` is the registry: each consumer's name, its queue's purpose and the routing keys it binds.
`build_handlers` gives consumer name → ``handler(session, message)``. `Dispatcher.deliver` is the one
code path both transports run for every delivery: validate the envelope (schemas.bus), run the handler
in ONE transaction together with the insert of ProcessedMessage(consumer, message_id) — a duplicate
delivery finds that row and changes nothing — retry what is transient, and tell the transport what to
do with the delivery (`Disposition`). `Dispatcher.deliver_many` does the same for deliveries that were
waiting together, in one transaction, falling back to one by one if that fails.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from schemas.bus import ValidationError, load_message, routing_key
from tiertrace.chains.services import handle_events
from tiertrace.db import utcnow
from tiertrace.disclosure.notifications import ensure_request_notifications
from tiertrace.disclosure.propagation import PropagationSettings, propagate_declarations
from tiertrace.outbox.models import ProcessedMessage
from worker.errors import BusError

log = logging.getLogger(__name__)

#: A handler gets the open session (the transaction is the caller's) and the validated message.
MessageHandler = Callable[[Session, dict[str, Any]], None]


@dataclass(frozen=True)
class BatchHandler:
    """A handler that takes the fresh messages of a batch in one call, to share its round trips.

    Must have the effect of handling them one by one in the order given.
    """

    run: Callable[[Session, list[dict[str, Any]]], None]


Handler = MessageHandler | BatchHandler
#: Deliveries of one message before it is dead-lettered (x-delivery-limit on RabbitMQ). RabbitMQ 3.x
#: quorum queues count every return, including when a consumer's connection dies with the message
#: unacked, so this must stay well above the crashes a message could witness, while still bounding
#: a poison loop (each delivery is itself tried `Dispatcher.attempts` times in place).
DELIVERY_LIMIT = 10
#: Key in `Session.info`: callables a handler wants run once its transaction has committed.
AFTER_COMMIT = "tiertrace.worker.after_commit"


@dataclass(frozen=True)
class ConsumerSpec:
    """A consumer: its name, what its queue holds, and the routing keys the queue is bound to."""

    name: str
    purpose: str
    routing_keys: tuple[str, ...]
    #: On the path of a hop up the tiers: the other consumers of a worker wait while it has work in hand.
    urgent: bool = False

    def queue(self, prefix: str = "") -> str:
        """The queue name, ``<consumer>.<purpose>`` after the deployment's prefix."""
        return f"{prefix}{self.name}.{self.purpose}"


#: The registry. Every event type the outbox emits must be bound by at least one consumer: the relay
#: publishes with `mandatory`, and an event no queue takes is returned and stays unsent.
CONSUMERS: tuple[ConsumerSpec, ...] = (
    # A decline ends its branch: nothing goes further up, so "request.declined" is not bound here.
    ConsumerSpec("propagate", "declarations", ("declaration.accepted.v1",), urgent=True),
    ConsumerSpec(
        "merge",
        "rollups",
        ("declaration.accepted.v1", "request.created.v1", "request.declined.v1", "request.overdue.v1"),
    ),
    ConsumerSpec("notify", "requests", ("request.created.v1",)),
)
CONSUMERS_BY_NAME: dict[str, ConsumerSpec] = {spec.name: spec for spec in CONSUMERS}


def consumers_for(key: str) -> list[ConsumerSpec]:
    """The consumers whose queue receives messages with routing key `key`."""
    return [spec for spec in CONSUMERS if key in spec.routing_keys]


def build_handlers(
    settings: PropagationSettings,
    *,
    clock: Callable[[], datetime] = utcnow,
    on_webhook_queued: Callable[[], None] | None = None,
) -> dict[str, Handler]:
    """The handlers by consumer name, bound to `settings` and a clock.

    `on_webhook_queued` wakes the webhook sender once a transaction that queued a delivery has
    committed (earlier, the sender would not see the row yet); it must not block.
    """

    def propagate(session: Session, messages: list[dict[str, Any]]) -> None:
        """Forward the accepted declarations' components as requests to the next tier.

        Writes the forwarded requests, their "request.created" events and notifications (see
        `tiertrace.disclosure.propagation.propagate_declarations`).
        """
        declaration_ids = [message["payload"]["declaration_id"] for message in messages]
        propagate_declarations(session, declaration_ids, now=clock(), settings=settings)

    def merge(session: Session, messages: list[dict[str, Any]]) -> None:
        """Recompute the rollups the events change, up to the roots, each once (tiertrace.chains).

        Waits first for the rollup lock: merge transactions run one at a time across all workers.
        """
        handle_events(session, [(message["type"], message["payload"]) for message in messages])

    def notify(session: Session, messages: list[dict[str, Any]]) -> None:
        """Make sure each supplier has a notification of its new request, and queue its webhook POST.

        Requests forwarded by propagation have their notification already; requests made by hand get it
        here. The POST itself happens outside the consumer (worker.webhooks), so a slow or dead receiver
        never holds a message.
        """
        request_ids = [message["payload"]["request_id"] for message in messages]
        ensured = ensure_request_notifications(session, request_ids, now=clock())
        if on_webhook_queued is not None and any(queued for _, queued in ensured.values()):
            session.info.setdefault(AFTER_COMMIT, []).append(on_webhook_queued)

    return {
        "propagate": BatchHandler(propagate),
        "merge": BatchHandler(merge),
        "notify": BatchHandler(notify),
    }


# The model is mapped to a Table; SQLAlchemy types `__table__` as the wider FromClause.
_processed = cast(Table, ProcessedMessage.__table__)
#: The ledger insert by dialect: ON CONFLICT DO NOTHING skips what was recorded before, and a key
#: repeated inside the statement, and RETURNING tells which rows are new.
_RECORD_PROCESSED: dict[str, Any] = {
    "postgresql": postgresql.insert(_processed).on_conflict_do_nothing().returning(_processed.c.message_id),
    "sqlite": sqlite.insert(_processed).on_conflict_do_nothing().returning(_processed.c.message_id),
    "": insert(_processed).returning(_processed.c.message_id),  # pragma: no cover - other databases
}


class Outcome(enum.Enum):
    """What running a handler did."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"


def run_handler(
    session_factory: sessionmaker[Session], consumer: str, handler: Handler, message: dict[str, Any]
) -> Outcome:
    """Run `handler` and record the message as processed by `consumer`, in one transaction, and commit.

    The ProcessedMessage insert comes first and uses ON CONFLICT DO NOTHING: when another delivery of
    the same message committed before, nothing is inserted and the handler does not run. When two
    deliveries race, the second insert waits on the first's uncommitted row (unique index) and then
    either finds it (duplicate) or, if the first rolled back, proceeds.
    """
    return run_handler_batch(session_factory, consumer, handler, [message])[0]


def run_handler_batch(
    session_factory: sessionmaker[Session], consumer: str, handler: Handler, messages: list[dict[str, Any]]
) -> list[Outcome]:
    """`run_handler` for several messages in ONE transaction: one ledger insert, one commit.

    All or nothing: if a handler raises, nothing of the batch is committed (the caller retries the
    messages one by one). A message id twice in the batch is handled once.
    """
    with session_factory() as session:
        with session.begin():
            connection = session.connection()
            statement = _RECORD_PROCESSED.get(connection.dialect.name, _RECORD_PROCESSED[""])
            now = utcnow()
            rows = [
                {"consumer": consumer, "message_id": m["message_id"], "processed_at": now} for m in messages
            ]
            # One multi-row INSERT; DO NOTHING also skips a key repeated inside the statement.
            fresh = set(connection.execute(statement, rows).scalars())
            outcomes = []
            todo = []
            for message in messages:
                if message["message_id"] in fresh:
                    fresh.discard(message["message_id"])
                    todo.append(message)
                    outcomes.append(Outcome.PROCESSED)
                else:
                    outcomes.append(Outcome.DUPLICATE)
            if isinstance(handler, BatchHandler):
                if todo:
                    handler.run(session, todo)
            else:
                for message in todo:
                    handler(session, message)
        for callback in session.info.pop(AFTER_COMMIT, []):
            callback()
    return outcomes


#: SQLite's primary result codes of a failure that may go away by itself: busy, locked, an I/O error, a
#: file it cannot open, a full disk. Its other OperationalErrors ("malformed JSON", "no such table") come
#: back on every try and must not hold a consumer forever.
_SQLITE_TRANSIENT = frozenset({5, 6, 10, 13, 14, 15})  # BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL


def is_transient(error: BaseException) -> bool:
    """Whether `error` may go away by itself: the database is unreachable, busy, or chose a victim.

    OperationalError covers lost connections, PostgreSQL deadlocks and serialization failures, and on
    SQLite "database is locked" among errors that recur (`_SQLITE_TRANSIENT` tells them apart); an
    invalidated connection and pool timeouts are transient too.
    """
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa_exc.OperationalError) and isinstance(error.orig, sqlite3.Error):
        code = getattr(error.orig, "sqlite_errorcode", None)
        return code is None or code & 0xFF in _SQLITE_TRANSIENT
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)


def describe_error(error: BaseException) -> str:
    """`error` on one line for a log: its class and message, never empty.

    Unwraps what only wraps the cause: SQLAlchemy's `orig`, and pika's connection errors, whose str()
    is empty (the cause sits in `args`, `exception` or `exceptions`), so a refused port reads
    "ConnectionRefusedError: [Errno 111] Connection refused".
    """
    for _ in range(5):
        inner = getattr(error, "orig", None) or getattr(error, "exception", None)
        if inner is None and getattr(error, "exceptions", None):
            inner = error.exceptions[-1]  # type: ignore[attr-defined]
        if inner is None and len(error.args) == 1:
            inner = error.args[0]
        if not isinstance(inner, BaseException):
            break
        error = inner
    text = " ".join(str(error).split())  # psycopg's messages span lines
    if isinstance(error, BusError) and text:
        return text  # the bus's own errors say what failed already
    return f"{type(error).__name__}: {text}" if text else repr(error)


class Disposition(enum.Enum):
    """What the transport does with a delivery once the dispatcher is done with it."""

    #: Processed (or a duplicate): acknowledge.
    ACK = "ack"
    #: Will never succeed (fails validation, or not for this consumer): dead-letter at once.
    DEAD_LETTER = "dead-letter"
    #: Failed for now: give it back; the broker counts deliveries and dead-letters at its limit.
    RETRY = "retry"


@dataclass(frozen=True)
class DeliveryInfo:
    """What the transport knows of a delivery besides its body; only the log lines use it."""

    #: The AMQP message_id property: names a message whose body cannot be read.
    message_id: str | None = None
    #: Deliveries of this message before this one (a quorum queue's x-delivery-count header).
    redeliveries: int = 0


_FIRST_DELIVERY = DeliveryInfo()


@dataclass
class Backoff:
    """Capped exponential backoff: first, 2×first, … up to `cap` seconds."""

    first: float = 0.05
    cap: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        return min(self.cap, self.first * (2 ** min(attempt - 1, 30)))


class Dispatcher:
    """Validate a delivery, run its consumer's handler idempotently, retry what is transient.

    Transient database failures are retried in place with capped backoff for as long as it takes (the
    message is not failing, the database is away), but only until `stop` is set. Other exceptions are
    retried `attempts` times in place (a unique-key race with a concurrent handler clears on retry),
    then the delivery is handed back (`RETRY`) for the broker to count.

    A delivery handed back gets one WARNING, with the traceback on the message's first delivery only
    (every try's at DEBUG); one dead-lettered at once, or handed back for the last time before the
    broker's `delivery_limit`, gets one ERROR naming its dead-letter queue. At DEBUG every delivery gets
    a line: consumer, message id, event type, outcome and milliseconds.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        handlers: Mapping[str, Handler],
        *,
        stop: threading.Event | None = None,
        attempts: int = 3,
        backoff: Backoff | None = None,
        delivery_limit: int | None = None,
        dead_letter_queues: Mapping[str, str] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.handlers = dict(handlers)
        self.stop = stop or threading.Event()
        self.attempts = attempts
        self.backoff = backoff or Backoff()
        #: The queues' x-delivery-limit when the transport counts deliveries (RabbitMQ): a delivery
        #: that many redeliveries in is the last before the broker dead-letters the message.
        self.delivery_limit = delivery_limit
        #: Consumer name -> its dead-letter queue, for the log lines.
        self.dead_letter_queues = dict(dead_letter_queues or {})

    def validate(
        self, consumer: str, body: bytes, info: DeliveryInfo = _FIRST_DELIVERY
    ) -> dict[str, Any] | None:
        """The parsed message, or None (logged) when it must be dead-lettered: invalid, or not ours."""
        try:
            message = load_message(body)
        except ValidationError as exc:
            log.error(
                "%s: message %s is invalid (%s); dead-lettering it to %s",
                consumer,
                info.message_id or "without a message_id",
                exc.messages,
                self._dead_letter_queue(consumer),
            )
            return None
        key = routing_key(message["type"], message["version"])
        spec = CONSUMERS_BY_NAME.get(consumer)
        if spec is None or key not in spec.routing_keys:
            log.error(
                "%s: message %s is %s, which is not for this consumer; dead-lettering it to %s",
                consumer,
                message["message_id"],
                key,
                self._dead_letter_queue(consumer),
            )
            return None
        return message

    def deliver(self, consumer: str, body: bytes, info: DeliveryInfo = _FIRST_DELIVERY) -> Disposition:
        """Handle one delivery of `body` to `consumer`; never raises for a bad message or a failed handler."""
        started = time.perf_counter()
        message = self.validate(consumer, body, info)
        if message is None:
            self._trace(consumer, None, info, "dead-lettered", started)
            return Disposition.DEAD_LETTER
        disposition, outcome = self._run(consumer, message, info)
        self._trace(consumer, message, info, outcome, started)
        return disposition

    def deliver_many(
        self, consumer: str, bodies: list[bytes], infos: Sequence[DeliveryInfo] | None = None
    ) -> list[Disposition]:
        """Handle deliveries that arrived together in one transaction (one commit instead of one each).

        If the batch fails in any way, its messages are handled one by one instead, each with the
        retries of `deliver`, so a poison message only ever fails alone.
        """
        infos = infos if infos is not None else [_FIRST_DELIVERY] * len(bodies)
        started = time.perf_counter()
        dispositions: list[Disposition | None] = [None] * len(bodies)
        valid: list[tuple[int, dict[str, Any]]] = []
        for i, body in enumerate(bodies):
            message = self.validate(consumer, body, infos[i])
            if message is None:
                dispositions[i] = Disposition.DEAD_LETTER
                self._trace(consumer, None, infos[i], "dead-lettered", started)
            else:
                valid.append((i, message))
        if len(valid) > 1:
            try:
                outcomes = run_handler_batch(
                    self.session_factory, consumer, self.handlers[consumer], [m for _, m in valid]
                )
            except Exception as exc:
                # Each message's own outcome is logged below.
                log.debug(
                    "%s: a batch of %d failed (%s); handling them one by one",
                    consumer,
                    len(valid),
                    describe_error(exc),
                )
            else:
                for (i, message), done in zip(valid, outcomes, strict=True):
                    dispositions[i] = Disposition.ACK
                    self._trace(consumer, message, infos[i], done.value, started, batch=len(valid))
                valid = []
        for i, message in valid:
            alone = time.perf_counter()
            disposition, outcome = self._run(consumer, message, infos[i])
            dispositions[i] = disposition
            self._trace(consumer, message, infos[i], outcome, alone)
        return [d if d is not None else Disposition.RETRY for d in dispositions]

    def _run(self, consumer: str, message: dict[str, Any], info: DeliveryInfo) -> tuple[Disposition, str]:
        """Run the handler with the retries in place; the disposition and the outcome for the log."""
        handler = self.handlers[consumer]
        failures = 0
        transient = 0
        while True:
            try:
                outcome = run_handler(self.session_factory, consumer, handler, message)
            except Exception as exc:
                if is_transient(exc):
                    transient += 1
                    delay = self.backoff.delay(transient)
                    log.warning(
                        "%s: %s failed transiently (%s); retrying in %.2g s",
                        consumer,
                        message["message_id"],
                        describe_error(exc),
                        delay,
                    )
                else:
                    failures += 1
                    log.debug(
                        "%s: handler failed on %s (try %d of %d)",
                        consumer,
                        message["message_id"],
                        failures,
                        self.attempts,
                        exc_info=True,
                    )
                    if failures >= self.attempts:
                        self._handed_back(consumer, message, info, exc)
                        return Disposition.RETRY, "handed back"
                    delay = self.backoff.delay(failures)
                if self.stop.wait(delay):
                    return Disposition.RETRY, "handed back (stopping)"
                continue
            if outcome is Outcome.DUPLICATE:
                log.info(
                    "%s: %s was processed before; acknowledging the duplicate",
                    consumer,
                    message["message_id"],
                )
            return Disposition.ACK, outcome.value

    def _handed_back(
        self, consumer: str, message: dict[str, Any], info: DeliveryInfo, error: Exception
    ) -> None:
        """One line for a delivery the handler failed on every try."""
        key = routing_key(message["type"], message["version"])
        delivery = info.redeliveries + 1
        if self.delivery_limit is not None and info.redeliveries >= self.delivery_limit:
            log.error(
                "%s: handler failed %d times on %s (%s) on its last delivery (%d): %s; "
                "the broker dead-letters it to %s",
                consumer,
                self.attempts,
                message["message_id"],
                key,
                delivery,
                describe_error(error),
                self._dead_letter_queue(consumer),
            )
            return
        limit = f" of at most {self.delivery_limit + 1}" if self.delivery_limit is not None else ""
        log.warning(
            "%s: handler failed %d times on %s (%s), delivery %d%s: %s; handing it back",
            consumer,
            self.attempts,
            message["message_id"],
            key,
            delivery,
            limit,
            describe_error(error),
            # The traceback once per message (at DEBUG every try has its own).
            exc_info=error if delivery == 1 and not log.isEnabledFor(logging.DEBUG) else None,
        )

    def _dead_letter_queue(self, consumer: str) -> str:
        return self.dead_letter_queues.get(consumer, "its dead-letter queue")

    def _trace(
        self,
        consumer: str,
        message: dict[str, Any] | None,
        info: DeliveryInfo,
        outcome: str,
        started: float,
        *,
        batch: int = 1,
    ) -> None:
        """The DEBUG line of one handled delivery."""
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug(
            "%s: %s %s %s in %.1f ms (delivery %d%s)",
            consumer,
            message["message_id"] if message else info.message_id,
            routing_key(message["type"], message["version"]) if message else "(invalid)",
            outcome,
            (time.perf_counter() - started) * 1000,
            info.redeliveries + 1,
            f", batch of {batch}" if batch > 1 else "",
        )
