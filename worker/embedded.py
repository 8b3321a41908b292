"""The in-process bus of the embedded mode: the same handlers, fed from the same outbox, no broker.

`tiertrace serve` without TIERTRACE_AMQP_URL starts one with `start_embedded_bus`. A background thread
wakes when a transaction that wrote outbox rows commits (`tiertrace.outbox.services.on_outbox_commit`;
NOTIFY too on PostgreSQL) or on a poll, reads the unsent rows in seq order, runs every bound consumer's
handler through the same `Dispatcher` as the RabbitMQ consumers — the same envelope bytes, the same
validation, the same one-transaction-with-the-ledger — and marks a row sent once every consumer is done
with it. A crash before that re-runs the row, and the ledger drops what was done already.

What a broker does with its delivery limit is done here by counting: a delivery the handler keeps
failing is retried with backoff up to `DELIVERY_LIMIT` times, then dead-lettered: logged, written to
the audit log as "bus.dead_letter", and the row is marked sent so it no longer holds anything up.
No pika here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from tiertrace.audit.models import AuditLogEntry
from tiertrace.config import Settings
from tiertrace.db import utcnow
from tiertrace.outbox.models import OutboxEvent
from worker.handlers import (
    CONSUMERS,
    DELIVERY_LIMIT,
    Backoff,
    DeliveryInfo,
    Dispatcher,
    Disposition,
    build_handlers,
    consumers_for,
    describe_error,
    is_transient,
)
from worker.relay import OutboxWaker, encode_event
from worker.scheduler import OverdueScheduler
from worker.webhooks import Poster, WebhookSender

log = logging.getLogger(__name__)

#: Audit action of a message the embedded bus gave up on.
DEAD_LETTER_ACTION = "bus.dead_letter"


@dataclass(frozen=True)
class DeadLetter:
    """A delivery the embedded bus gave up on (what a DLQ holds on RabbitMQ)."""

    consumer: str
    message_id: str
    routing_key: str
    reason: str


class EmbeddedBus:
    """The bus thread of the embedded mode. Use `start_embedded_bus` to get a running one."""

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        poll_interval: float = 1.0,
        batch_size: int = 200,
        delivery_limit: int = DELIVERY_LIMIT,
        webhooks: bool = True,
        post: Poster | None = None,
        backoff: Backoff | None = None,
        overdue_interval: float | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`clock` stamps what the handlers create (the demo replays a story on its own clock)."""
        self.session_factory = session_factory
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.delivery_limit = delivery_limit
        self.backoff = backoff or Backoff(first=0.05, cap=2.0)
        self.stopping = threading.Event()
        self.webhook_sender = (
            WebhookSender(session_factory, post=post, allow_private=settings.webhook_allow_private)
            if webhooks
            else None
        )
        handlers = build_handlers(
            settings,
            clock=clock,
            on_webhook_queued=self.webhook_sender.wake if self.webhook_sender else None,
        )
        self.dispatcher = Dispatcher(
            session_factory,
            handlers,
            stop=self.stopping,
            backoff=self.backoff,
            dead_letter_queues={spec.name: f"the audit log ({DEAD_LETTER_ACTION})" for spec in CONSUMERS},
        )
        # None: the settings' interval; 0 turns the sweep off (tests and the demo drive it themselves).
        interval = overdue_interval if overdue_interval is not None else settings.overdue_sweep_seconds
        self.overdue = (
            OverdueScheduler(
                session_factory,
                settings,
                interval=interval,
                on_webhooks_queued=self.webhook_sender.wake if self.webhook_sender else None,
            )
            if interval
            else None
        )
        self.dead_letters: list[DeadLetter] = []
        self._thread: threading.Thread | None = None
        self._waker: OutboxWaker | None = None
        self._condition = threading.Condition()
        self._passes_started = 0
        self._last_idle_pass = 0
        self._failure: BaseException | None = None
        # Per (message, consumer): failed deliveries so far, and consumers done with a row.
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._done: set[tuple[str, str]] = set()
        self._not_before: dict[int, float] = {}

    @property
    def engine(self) -> Engine | None:
        bind = self.session_factory.kw.get("bind")
        return bind if isinstance(bind, Engine) else None

    def start(self) -> EmbeddedBus:
        """Start the bus thread (and the webhook sender); returns self."""
        self._waker = OutboxWaker(self.engine)
        self._thread = threading.Thread(target=self._run, name="embedded-bus", daemon=True)
        self._thread.start()
        if self.webhook_sender is not None:
            self.webhook_sender.start()
        if self.overdue is not None:
            self.overdue.start()
        return self

    def wake(self) -> None:
        """Look at the outbox now."""
        if self._waker is not None:
            self._waker.wake()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the handler in progress and stop; unsent rows are picked up by the next start."""
        self.stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.webhook_sender is not None:
            self.webhook_sender.stop()
        if self.overdue is not None:
            self.overdue.stop()
        if self._waker is not None:
            self._waker.close()

    def drain(self, timeout: float = 30.0) -> None:
        """Block until the outbox is empty and no handler has work left: every row committed before the
        call, and every row their handlers wrote in turn, has been handled or dead-lettered.

        Raises TimeoutError after `timeout` seconds, RuntimeError when the bus is not running.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            started = self._passes_started
            self.wake()
            # Only a pass that began after this call and found nothing to do proves the outbox empty.
            while self._last_idle_pass <= started:
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError("the embedded bus is not running") from self._failure
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"the embedded bus did not drain within {timeout} s")
                self._condition.wait(min(remaining, 0.5))

    # bus thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._waker is not None
        failures = 0
        try:
            while not self.stopping.is_set():
                with self._condition:
                    self._passes_started += 1
                    number = self._passes_started
                try:
                    claimed, retry_in = self._pass()
                except Exception as exc:
                    failures += 1
                    if is_transient(exc):
                        log.warning("embedded bus pass failed: %s", describe_error(exc))
                    else:
                        log.exception("embedded bus pass failed")
                    self.stopping.wait(self.backoff.delay(failures))
                    continue
                failures = 0
                if claimed == 0 and retry_in is None:
                    with self._condition:
                        self._last_idle_pass = number
                        self._condition.notify_all()
                if claimed == 0 or retry_in is not None:
                    # Sleep until a commit, the poll, or the earliest deferred retry.
                    wait = self.poll_interval if retry_in is None else min(self.poll_interval, retry_in)
                    self._waker.wait(wait)
        except BaseException as exc:  # keep the reason for drain()
            self._failure = exc
            raise
        finally:
            with self._condition:
                self._condition.notify_all()

    def _pass(self) -> tuple[int, float | None]:
        """Handle a batch of unsent rows. Returns (rows handled now, seconds until a deferred retry)."""
        with self.session_factory() as session, session.begin():
            rows = session.execute(
                select(
                    OutboxEvent.seq,
                    OutboxEvent.message_id,
                    OutboxEvent.type,
                    OutboxEvent.version,
                    OutboxEvent.payload,
                )
                .where(OutboxEvent.sent_at.is_(None))
                .order_by(OutboxEvent.seq)
                .limit(self.batch_size)
            ).all()
        now = time.monotonic()
        handled: list[int] = []
        earliest: float | None = None
        for row in rows:
            if self.stopping.is_set():
                break
            not_before = self._not_before.get(row.seq)
            if not_before is not None and not_before > now:
                earliest = not_before if earliest is None else min(earliest, not_before)
                continue
            retry_at = self._deliver_row(row)
            if retry_at is None:
                handled.append(row.seq)
                self._not_before.pop(row.seq, None)
            else:
                self._not_before[row.seq] = retry_at
                earliest = retry_at if earliest is None else min(earliest, retry_at)
        if handled:
            with self.session_factory() as session, session.begin():
                session.execute(
                    update(OutboxEvent).where(OutboxEvent.seq.in_(handled)).values(sent_at=utcnow())
                )
        return len(handled), None if earliest is None else max(0.0, earliest - time.monotonic())

    def _deliver_row(self, row: Any) -> float | None:
        """Deliver one row to each bound consumer not done with it; a retry time if one must try again."""
        message = encode_event(row)
        consumers = consumers_for(message.routing_key)
        if not consumers:
            self._dead_letter("-", message.message_id, message.routing_key, "no consumer is bound to it")
        retry_at: float | None = None
        for spec in consumers:
            key = (message.message_id, spec.name)
            if key in self._done:
                continue
            disposition = self.dispatcher.deliver(
                spec.name, message.body, DeliveryInfo(message.message_id, self._attempts[key])
            )
            if disposition is Disposition.RETRY:
                if self.stopping.is_set():
                    return time.monotonic()
                self._attempts[key] += 1
                if self._attempts[key] < self.delivery_limit:
                    delay = self.backoff.delay(self._attempts[key])
                    retry_at = (
                        time.monotonic() + delay
                        if retry_at is None
                        else min(retry_at, time.monotonic() + delay)
                    )
                    continue
                self._dead_letter(
                    spec.name, message.message_id, message.routing_key, "delivery limit reached"
                )
            elif disposition is Disposition.DEAD_LETTER:
                self._dead_letter(spec.name, message.message_id, message.routing_key, "invalid message")
            self._done.add(key)
        if retry_at is None:
            for spec in consumers:
                self._done.discard((message.message_id, spec.name))
                self._attempts.pop((message.message_id, spec.name), None)
        return retry_at

    def _dead_letter(self, consumer: str, message_id: str, key: str, reason: str) -> None:
        log.error("embedded bus: dead-lettering %s (%s) for %s: %s", message_id, key, consumer, reason)
        self.dead_letters.append(DeadLetter(consumer, message_id, key, reason))
        try:
            with self.session_factory() as session, session.begin():
                session.add(
                    AuditLogEntry(
                        organization_id=None,
                        action=DEAD_LETTER_ACTION,
                        subject=message_id,
                        details={"consumer": consumer, "routing_key": key, "reason": reason},
                    )
                )
        except Exception:
            log.exception("could not record the dead letter %s", message_id)


def start_embedded_bus(
    settings: Settings, session_factory: sessionmaker[Session], **options: Any
) -> EmbeddedBus:
    """Start the in-process bus for the embedded mode; `stop()` it when the process shuts down.

    `options` go to `EmbeddedBus` (poll_interval, webhooks, post, …).
    """
    return EmbeddedBus(settings, session_factory, **options).start()
