"""The RabbitMQ transport (pika 1.4): topology, a confirming publisher for the relay, and consumers.

Topology, declared idempotently every time a consumer connects (declaring what exists with the same
arguments is a no-op):

- a durable topic exchange ``<prefix>tiertrace.events``; routing keys ``<type>.v<version>``;
- per consumer a quorum queue ``<prefix><consumer>.<purpose>`` bound to the keys it handles, with
  ``x-delivery-limit`` set explicitly and a dead-letter exchange ``<prefix>tiertrace.dead-letters``
  (direct) that routes its rejects to ``<queue>.dlq``, itself a quorum queue.

Consumers use manual acks sent only after the handler's transaction committed, and a prefetch. The
I/O of each consumer runs in its own thread on its own BlockingConnection, which keeps answering
heartbeats while the handlers run in worker threads (pika connections are not thread-safe: a handler
thread hands its ack back with `add_callback_threadsafe`). Every pika exception is turned into
`worker.errors.BusUnavailable` before it leaves this module, and every connection comes back after a
broker restart or a network loss.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic
from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

import migrations
from tiertrace.config import Settings
from worker.errors import BusUnavailable, TopologyMismatchError
from worker.handlers import (
    CONSUMERS,
    CONSUMERS_BY_NAME,
    DELIVERY_LIMIT,
    Backoff,
    ConsumerSpec,
    DeliveryInfo,
    Dispatcher,
    Disposition,
    build_handlers,
    describe_error,
)
from worker.health import HealthFile, WorkerState, timestamp
from worker.relay import OutboxRelay, OutboxWaker, OutgoingMessage
from worker.scheduler import OverdueScheduler
from worker.webhooks import WebhookSender

log = logging.getLogger(__name__)

DEFAULT_PREFETCH = 32
#: Deliveries a handler thread takes into one transaction when several are waiting.
DEFAULT_BATCH = 16
#: Seconds. The broker drops a connection that sends nothing for two intervals; every connection here
#: is driven by an I/O thread that never runs handler code, so heartbeats are never starved.
HEARTBEAT = 30

#: What pika raises when the broker is away, the connection broke, or a channel was closed on us.
PIKA_ERRORS = (pika.exceptions.AMQPError, OSError)


def broker_address(url: str) -> str:
    """``host:port/vhost`` of an AMQP URL, for logs: no user, no password."""
    parameters = pika.URLParameters(url)
    return f"{parameters.host}:{parameters.port}/{quote(parameters.virtual_host, safe='')}"


def amqp_url_problem(url: str) -> str | None:
    """Why pika cannot use the AMQP URL `url` (a port that is no number, a query parameter it does not
    know or cannot read), without the URL's password; None when it can. Connects nowhere."""
    try:
        pika.URLParameters(url)
    except (ValueError, TypeError) as exc:  # TypeError: ssl_options without a CA to verify the broker by
        return str(exc)
    return None


def connection_parameters(url: str, *, name: str) -> pika.URLParameters:
    """pika parameters for `url`, with a heartbeat, short connect timeouts and a connection name.

    Values given in the URL's query string (``?heartbeat=10``) win over these defaults.
    """
    parameters = pika.URLParameters(url)
    query = url.partition("?")[2]
    if "heartbeat" not in query:
        parameters.heartbeat = HEARTBEAT
    if "blocked_connection_timeout" not in query:
        # A broker under a resource alarm blocks publishers; give up the connection (and retry) rather
        # than hang forever.
        parameters.blocked_connection_timeout = 60
    if "socket_timeout" not in query:
        parameters.socket_timeout = 5
    # Reconnection is ours (with backoff, forever); pika's own retries would only block a thread.
    parameters.connection_attempts = 1
    parameters.client_properties = {"connection_name": name}
    return parameters


@dataclass(frozen=True)
class QueueTopology:
    consumer: str
    name: str
    dead_letter_queue: str
    routing_keys: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    """Every name the bus uses under one prefix."""

    exchange: str
    dead_letter_exchange: str
    queues: tuple[QueueTopology, ...]

    def queue_of(self, consumer: str) -> QueueTopology:
        """The queue of `consumer`."""
        return next(q for q in self.queues if q.consumer == consumer)


def topology(prefix: str = "", consumers: Iterable[ConsumerSpec] = CONSUMERS) -> Topology:
    """The exchange, dead-letter exchange and queues for `prefix`."""
    queues = tuple(
        QueueTopology(spec.name, spec.queue(prefix), spec.queue(prefix) + ".dlq", spec.routing_keys)
        for spec in consumers
    )
    return Topology(f"{prefix}tiertrace.events", f"{prefix}tiertrace.dead-letters", queues)


def queue_arguments(queue: QueueTopology, topo: Topology) -> dict[str, Any]:
    """The arguments of a consumer queue; changing them needs a new queue (RabbitMQ will not alter one)."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": topo.dead_letter_exchange,
        "x-dead-letter-routing-key": queue.dead_letter_queue,
    }


def declare_topology(channel: BlockingChannel, topo: Topology) -> None:
    """Declare exchanges, queues, dead-letter queues and bindings; idempotent.

    Raises TopologyMismatchError when something exists with other arguments (PRECONDITION_FAILED), and
    BusUnavailable for any other broker error.
    """
    declaring = f"exchange {topo.exchange}"
    try:
        channel.exchange_declare(topo.exchange, exchange_type="topic", durable=True)
        declaring = f"exchange {topo.dead_letter_exchange}"
        channel.exchange_declare(topo.dead_letter_exchange, exchange_type="direct", durable=True)
        for q in topo.queues:
            declaring = f"queue {q.dead_letter_queue}"
            channel.queue_declare(q.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(
                q.dead_letter_queue, topo.dead_letter_exchange, routing_key=q.dead_letter_queue
            )
            declaring = f"queue {q.name}"
            channel.queue_declare(q.name, durable=True, arguments=queue_arguments(q, topo))
            for key in q.routing_keys:
                channel.queue_bind(q.name, topo.exchange, routing_key=key)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 406:
            raise TopologyMismatchError(
                f"topology mismatch: the broker has {declaring} with other arguments than this version "
                f"declares ({exc.reply_text}); drain it, delete it and start the worker again "
                "(docs/operations.md, Topology)"
            ) from exc
        raise BusUnavailable(f"declaring {declaring} failed: {describe_error(exc)}") from exc
    except PIKA_ERRORS as exc:
        raise BusUnavailable(f"declaring {declaring} failed: {describe_error(exc)}") from exc


def ensure_topology(url: str, prefix: str = "") -> Topology:
    """Connect, declare the topology, disconnect. Raises BusUnavailable / TopologyMismatchError."""
    topo = topology(prefix)
    try:
        connection = pika.BlockingConnection(connection_parameters(url, name="tiertrace-topology"))
    except PIKA_ERRORS as exc:
        raise BusUnavailable(f"cannot connect: {describe_error(exc)}") from exc
    try:
        declare_topology(connection.channel(), topo)
    except PIKA_ERRORS as exc:
        raise BusUnavailable(f"declaring the topology failed: {describe_error(exc)}") from exc
    finally:
        _close_quietly(connection)
    return topo


def _close_quietly(connection: Any) -> None:
    try:
        if connection.is_open:
            connection.close()
    except PIKA_ERRORS:
        pass  # already broken: nothing left to close


# --- publishing -------------------------------------------------------------------------------------------


class PublishConfirms:
    """The confirms of one published batch; settled from the publisher's I/O thread."""

    def __init__(self, messages: Sequence[OutgoingMessage]) -> None:
        self._waiting = {m.message_id for m in messages}
        self.confirmed: set[str] = set()
        self.failed: set[str] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        if not self._waiting:
            self._done.set()

    def settle(self, message_id: str, ok: bool) -> None:
        """Record the broker's verdict on one message."""
        with self._lock:
            if message_id not in self._waiting:
                return
            self._waiting.discard(message_id)
            (self.confirmed if ok else self.failed).add(message_id)
            if not self._waiting:
                self._done.set()

    def fail_all(self) -> None:
        """The channel or connection went away: whatever is still waiting will not be confirmed."""
        with self._lock:
            self.failed |= self._waiting
            self._waiting.clear()
            self._done.set()

    def wait(self, timeout: float) -> set[str]:
        """Wait until every message is settled or `timeout`; the ids confirmed so far."""
        self._done.wait(timeout)
        with self._lock:
            return set(self.confirmed)


class ConfirmingPublisher:
    """Persistent, mandatory publishes with publisher confirms kept in flight, on a SelectConnection.

    pika's BlockingChannel waits for each confirm before `basic_publish` returns (a round trip per
    message), so the publisher runs the asynchronous SelectConnection in its own I/O thread instead:
    `publish` hands a whole batch over with `add_callback_threadsafe`, and the broker's Basic.Ack /
    Basic.Nack (possibly `multiple`) settle the messages by delivery tag. A mandatory message no queue
    takes comes back as Basic.Return *before* its Ack; it counts as not confirmed. After a lost
    connection it reconnects with capped backoff; whatever was in flight counts as not confirmed.
    """

    def __init__(self, url: str, exchange: str, *, name: str = "tiertrace-relay") -> None:
        self.parameters = connection_parameters(url, name=name)
        self.exchange = exchange
        self.backoff = Backoff(first=0.2, cap=5.0)
        self._connection: Any = None
        self._channel: Any = None
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        # Only touched on the I/O thread:
        self._opened = False
        self._lost = False  # a connection failed since the last one that worked: say when it is back
        self._next_tag = 0
        self._pending: dict[int, tuple[PublishConfirms, str]] = {}
        self._returned: set[str] = set()
        # Batches handed to the I/O thread and not yet published: failed if the loop stops first.
        self._queued: set[PublishConfirms] = set()
        self._queued_lock = threading.Lock()

    def start(self, timeout: float = 10.0) -> bool:
        """Start the I/O thread and wait up to `timeout` for a channel in confirm mode.

        Returns whether it is ready; if not, it keeps connecting in the background (and `publish` raises
        BusUnavailable meanwhile).
        """
        self._thread = threading.Thread(target=self._run, name="bus-publisher", daemon=True)
        self._thread.start()
        return self._ready.wait(timeout)

    @property
    def ready(self) -> bool:
        """True while a confirming channel is open."""
        return self._ready.is_set()

    def publish(self, messages: Sequence[OutgoingMessage]) -> PublishConfirms:
        """Publish `messages` in order; returns their confirms. Raises BusUnavailable when not connected."""
        confirms = PublishConfirms(messages)
        connection = self._connection
        if not self._ready.is_set() or connection is None:
            raise BusUnavailable("the publisher is not connected")
        with self._queued_lock:
            self._queued.add(confirms)
        try:
            connection.ioloop.add_callback_threadsafe(functools.partial(self._publish, confirms, messages))
        except Exception as exc:  # the ioloop may be closing underneath us
            with self._queued_lock:
                self._queued.discard(confirms)
            raise BusUnavailable(f"the publisher is not connected: {describe_error(exc)}") from exc
        return confirms

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection and stop the I/O thread."""
        self._closing.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.ioloop.add_callback_threadsafe(self._close_connection)
            except Exception:
                log.debug("publisher ioloop already closed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)

    # I/O thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._closing.is_set():
            self._opened = False
            connection = None
            try:
                connection = pika.SelectConnection(
                    self.parameters,
                    on_open_callback=self._on_open,
                    on_open_error_callback=self._on_open_error,
                    on_close_callback=self._on_closed,
                )
                self._connection = connection
                connection.ioloop.start()
            except Exception:
                log.exception("publisher I/O loop failed")
            self._ready.clear()
            self._connection = None
            self._fail_pending()
            if connection is not None:
                # Each SelectConnection has its own ioloop, whose wake-up socket pair stays open until
                # the loop is closed.
                with contextlib.suppress(Exception):
                    connection.ioloop.close()
            if self._closing.is_set():
                break
            failures = 0 if self._opened else failures + 1
            self._closing.wait(self.backoff.delay(failures + 1))
        self._connection = None

    def _on_open(self, connection: Any) -> None:
        self._opened = True
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, connection: Any, error: BaseException) -> None:
        self._lost = True
        log.warning("publisher cannot connect (%s); retrying", describe_error(error))
        connection.ioloop.stop()

    def _on_closed(self, connection: Any, reason: BaseException) -> None:
        self._ready.clear()
        self._channel = None
        if not self._closing.is_set():
            self._lost = True
            log.warning("publisher connection closed (%s); reconnecting", describe_error(reason))
        connection.ioloop.stop()

    def _on_channel_open(self, channel: Any) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        self._channel = channel
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_mode)

    def _on_confirm_mode(self, _frame: Any) -> None:
        # Delivery tags count from 1 on each channel once it is in confirm mode.
        self._next_tag = 0
        self._pending.clear()
        self._returned.clear()
        if self._lost:
            self._lost = False
            log.info("publisher reconnected")
        self._ready.set()

    def _on_channel_closed(self, _channel: Any, reason: BaseException) -> None:
        # A closed channel (e.g. the exchange does not exist: 404) is unusable; start over on a fresh
        # connection rather than juggling a half-open one.
        # A channel closed with its connection says nothing more than _on_closed does.
        if not self._closing.is_set() and not isinstance(reason, pika.exceptions.ConnectionClosed):
            self._lost = True
            log.warning("publisher channel closed (%s); reconnecting", describe_error(reason))
        self._ready.clear()
        self._channel = None
        self._fail_pending()
        connection = self._connection
        if connection is not None and connection.is_open:
            connection.close()

    def _publish(self, confirms: PublishConfirms, messages: Sequence[OutgoingMessage]) -> None:
        with self._queued_lock:
            self._queued.discard(confirms)
        channel = self._channel
        if channel is None or not channel.is_open:
            confirms.fail_all()
            return
        for message in messages:
            try:
                channel.basic_publish(
                    self.exchange,
                    message.routing_key,
                    message.body,
                    properties=pika.BasicProperties(
                        # Persistent: a quorum queue stores every message anyway, but a classic queue
                        # bound by an operator would drop transient ones on restart.
                        delivery_mode=pika.DeliveryMode.Persistent,
                        content_type="application/json",
                        message_id=message.message_id,
                    ),
                    # Mandatory: an event no queue is bound for comes back instead of vanishing.
                    mandatory=True,
                )
            except PIKA_ERRORS:
                log.warning("publish failed", exc_info=True)
                confirms.fail_all()
                return
            self._next_tag += 1
            self._pending[self._next_tag] = (confirms, message.message_id)

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        log.error("message %s was returned unroutable (no queue bound for it)", properties.message_id)
        self._returned.add(properties.message_id)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, Basic.Ack)
        tag = method.delivery_tag
        tags = [t for t in self._pending if t <= tag] if method.multiple else [tag]
        for t in tags:
            entry = self._pending.pop(t, None)
            if entry is None:
                continue
            confirms, message_id = entry
            returned = message_id in self._returned
            self._returned.discard(message_id)
            confirms.settle(message_id, ok and not returned)

    def _fail_pending(self) -> None:
        for confirms, _ in list(self._pending.values()):
            confirms.fail_all()
        self._pending.clear()
        self._returned.clear()
        if not self._ready.is_set():
            # The loop is gone: batches whose publish callback never ran will not run now.
            with self._queued_lock:
                queued, self._queued = self._queued, set()
            for confirms in queued:
                confirms.fail_all()

    def _close_connection(self) -> None:
        connection = self._connection
        if connection is not None and connection.is_open:
            connection.close()
        elif connection is not None:
            connection.ioloop.stop()


# --- consuming --------------------------------------------------------------------------------------------


@dataclass
class _Delivery:
    generation: int
    connection: Any
    channel: Any
    delivery_tag: int
    body: bytes
    info: DeliveryInfo


@dataclass
class ConsumerStats:
    """Counts per disposition, for logs and tests."""

    acked: int = 0
    dead_lettered: int = 0
    requeued: int = 0
    connections: int = 0


#: The PriorityGate and deadline of the batch that is not urgent which this handler thread runs, if any.
_yielding = threading.local()


def yield_to_urgent_work(*_args: Any) -> None:
    """SQLAlchemy ``before_cursor_execute`` listener: inside `PriorityGate.yielding`, wait while urgent
    work is in hand (until the batch's deadline). Other threads pass straight through."""
    gate = getattr(_yielding, "gate", None)
    if gate is not None:
        gate.wait_idle(_yielding.deadline)


class PriorityGate:
    """Lets the consumers of a worker that are not urgent wait while urgent work is in hand: the urgent
    consumer's deliveries, and the relay's passes, which carry the events of a hop to the broker.

    The handlers of one process share a GIL and two cores with everything else: a merge recomputing
    rollups beside a propagation stretches the propagation (the hop) by as much as it computes. So a
    consumer that is not urgent starts a batch only once no urgent work is in hand, and while the batch
    runs it also waits before each of its SQL statements whenever urgent work began (`yielding`, with
    `yield_to_urgent_work` listening on a PostgreSQL engine): a merge that began in a quiet moment
    steps aside for the next hop instead of computing beside it. In all a batch waits at most
    `max_wait` seconds, so under a sustained load of urgent work it still makes progress, in larger
    batches. Its transaction stays open meanwhile; no urgent work waits for what it holds (merge and
    notify lock nothing that propagation or the relay writes).
    """

    def __init__(self, max_wait: float = 0.5) -> None:
        self.max_wait = max_wait
        self._urgent = 0
        self._idle = threading.Condition()

    def enter(self) -> None:
        """Urgent work began: an urgent delivery arrived, a relay pass started."""
        with self._idle:
            self._urgent += 1

    def leave(self, count: int = 1) -> None:
        """`count` pieces of urgent work ended: deliveries settled (or given up), a relay pass."""
        with self._idle:
            self._urgent -= count
            if self._urgent <= 0:
                self._idle.notify_all()

    def wait_idle(self, deadline: float | None = None) -> None:
        """Return once no urgent work is in hand, or at `deadline` (`time.monotonic()`; by default
        `max_wait` seconds from now)."""
        timeout = self.max_wait if deadline is None else deadline - time.monotonic()
        with self._idle:
            self._idle.wait_for(lambda: self._urgent <= 0, timeout)

    @contextlib.contextmanager
    def yielding(self, deadline: float) -> Iterator[None]:
        """Within the block, this thread's SQL statements wait while urgent work is in hand, until
        `deadline` (`time.monotonic()`)."""
        _yielding.gate, _yielding.deadline = self, deadline
        try:
            yield
        finally:
            _yielding.gate = None


class QueueConsumer:
    """One consumer: an I/O thread with its own BlockingConnection, and handler threads.

    The I/O thread only moves frames (deliveries in, acks out, heartbeats both ways). Handlers run in
    `concurrency` threads fed from a local queue; a thread takes whatever deliveries are waiting (up to
    `batch_size`) into one transaction. When a handler is done, its ack (or nack) is handed
    back to the I/O thread with `add_callback_threadsafe` — sent after the commit, on the connection
    the message came from; if that connection died meanwhile the broker redelivers the message, and
    the handler's ledger drops it.
    """

    def __init__(
        self,
        url: str,
        spec: ConsumerSpec,
        queue_name: str,
        dispatcher: Dispatcher,
        *,
        topo: Topology,
        prefetch: int = DEFAULT_PREFETCH,
        concurrency: int = 1,
        batch_size: int = DEFAULT_BATCH,
        shutdown_timeout: float = 60.0,
        priority: PriorityGate | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        """`on_failure` is called (on the I/O thread) when the consumer stops by itself: see `failure`."""
        self.spec = spec
        self.priority = priority
        self.queue_name = queue_name
        self.dispatcher = dispatcher
        self.topo = topo
        self.prefetch = prefetch
        self.concurrency = concurrency
        self.parameters = connection_parameters(url, name=f"tiertrace-{spec.name}")
        self.address = broker_address(url)
        self.on_failure = on_failure
        #: Why the consumer stopped by itself: a topology mismatch, which no retry can fix.
        self.failure: TopologyMismatchError | None = None
        self._lost = False  # a connection failed since the last one that worked: say when it is back
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.stats = ConsumerStats()
        self.backoff = Backoff(first=0.2, cap=5.0)
        self.batch_size = batch_size
        self.shutdown_timeout = shutdown_timeout
        self._work: queue.Queue[_Delivery | None] = queue.Queue()
        # Deliveries received and not yet settled, per connection generation: an ack handed to a
        # connection that then died is never settled, and must not keep a later shutdown waiting.
        self._busy: Counter[int] = Counter()
        self._busy_lock = threading.Lock()
        self._generation = 0
        self._unsettled: set[int] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the I/O thread and the handler threads."""
        for i in range(self.concurrency):
            thread = threading.Thread(
                target=self._handle_loop, name=f"bus-{self.spec.name}-handler-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        io = threading.Thread(target=self._io_loop, name=f"bus-{self.spec.name}-io", daemon=True)
        io.start()
        self._threads.append(io)

    @property
    def consuming(self) -> bool:
        """True while connected to the broker with every thread of this consumer alive."""
        return self.connected.is_set() and all(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        """Ask the consumer to finish the messages in hand, acknowledge them and disconnect."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the threads to end (after `stop`)."""
        for _ in range(self.concurrency):
            self._work.put(None)
        for thread in self._threads:
            thread.join(timeout)

    # I/O thread ---------------------------------------------------------------------------------------

    def _io_loop(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                self._consume()
                failures = 0
            except TopologyMismatchError as exc:
                # The queues were declared with other arguments meanwhile (another release): no retry
                # can fix that, an operator must (docs/operations.md). Stop; the worker exits non-zero.
                log.error("%s: %s", self.spec.name, exc)
                self.failure = exc
                self.stop_event.set()
                if self.on_failure is not None:
                    self.on_failure()
            except (BusUnavailable, *PIKA_ERRORS) as exc:
                failures = 1 if self.connected.is_set() else failures + 1
                self._lost = True
                log.warning(
                    "%s: %s %s (%s); retrying in %.2g s",
                    self.spec.name,
                    "lost the broker at" if self.connected.is_set() else "cannot reach the broker at",
                    self.address,
                    describe_error(exc),
                    self.backoff.delay(failures),
                )
            finally:
                self.connected.clear()
            self.stop_event.wait(self.backoff.delay(max(failures, 1)))

    def _consume(self) -> None:
        connection = pika.BlockingConnection(self.parameters)
        self._generation += 1
        generation = self._generation
        self.stats.connections += 1
        # Delivery tags of this connection received and not settled; only touched on the I/O thread.
        self._unsettled = set()
        try:
            channel = connection.channel()
            # Declared on every connect: a broker that lost its definitions gets them back.
            declare_topology(channel, self.topo)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.basic_consume(
                self.queue_name,
                on_message_callback=functools.partial(self._on_message, connection, generation),
                auto_ack=False,
            )
            self.connected.set()
            if self._lost:
                self._lost = False
                log.info("%s: reconnected to the broker at %s", self.spec.name, self.address)
            while not self.stop_event.is_set():
                # Wakes up for deliveries and for the handlers' threadsafe callbacks (acks).
                connection.process_data_events(time_limit=0.5)
            # SIGTERM: take nothing new, let the handlers finish what they hold and send those acks.
            deadline = time.monotonic() + self.shutdown_timeout
            while self._in_hand(generation) and time.monotonic() < deadline:
                connection.process_data_events(time_limit=0.05)
            connection.process_data_events(time_limit=0)
        finally:
            # Closing the channel gives every delivery still unacked (prefetched, never started) back
            # to the queue for another consumer.
            self._generation += 1
            _close_quietly(connection)
            self._forget(generation)

    def _in_hand(self, generation: int) -> bool:
        with self._busy_lock:
            return self._busy[generation] > 0

    def _on_message(
        self, connection: Any, generation: int, channel: Any, method: Any, properties: Any, body: bytes
    ) -> None:
        with self._busy_lock:
            self._busy[generation] += 1
        if self.spec.urgent and self.priority is not None:
            self.priority.enter()
        self._unsettled.add(method.delivery_tag)
        # A quorum queue counts the earlier deliveries of a message in x-delivery-count.
        headers = getattr(properties, "headers", None) or {}
        count = headers.get("x-delivery-count", 0)
        info = DeliveryInfo(getattr(properties, "message_id", None), count if isinstance(count, int) else 0)
        self._work.put(_Delivery(generation, connection, channel, method.delivery_tag, body, info))

    def _settle(self, settled: list[tuple[_Delivery, Disposition]]) -> None:
        # Runs on the I/O thread. A delivery tag is only meaningful on the channel that delivered it: after
        # a reconnect the broker has redelivered the message already, and acking the old tag on the new
        # channel would ack another message, or close the channel with PRECONDITION_FAILED.
        try:
            live = [
                (delivery, disposition)
                for delivery, disposition in settled
                if delivery.generation == self._generation and delivery.channel.is_open
            ]
            tags = {delivery.delivery_tag for delivery, _ in live}
            if len(live) > 1 and all(disposition is Disposition.ACK for _, disposition in live):
                top = max(tags)
                # One frame for the batch, when no delivery still in hand (another handler thread's,
                # or one not started yet) is at or below its highest tag: multiple=True would ack it too.
                if all(tag in tags for tag in self._unsettled if tag <= top):
                    live[0][0].channel.basic_ack(top, multiple=True)
                    self._unsettled -= tags
                    self.stats.acked += len(live)
                    return
            for delivery, disposition in live:
                self._unsettled.discard(delivery.delivery_tag)
                if disposition is Disposition.ACK:
                    delivery.channel.basic_ack(delivery.delivery_tag)
                    self.stats.acked += 1
                elif disposition is Disposition.DEAD_LETTER:
                    # requeue=False routes the message through the queue's dead-letter exchange.
                    delivery.channel.basic_nack(delivery.delivery_tag, requeue=False)
                    self.stats.dead_lettered += 1
                else:
                    # Back to the queue; the quorum queue counts it towards x-delivery-limit.
                    delivery.channel.basic_nack(delivery.delivery_tag, requeue=True)
                    self.stats.requeued += 1
        finally:
            for delivery, _ in settled:
                self._release(delivery)

    # handler threads ----------------------------------------------------------------------------------

    def _handle_loop(self) -> None:
        done = False
        while not done:
            batch = [self._work.get()]
            # Not urgent: wait for the urgent consumer's work in hand to be done, before and during the
            # batch, for max_wait in all (PriorityGate).
            gate = self.priority if batch[0] is not None and not self.spec.urgent else None
            deadline = time.monotonic() + gate.max_wait if gate is not None else 0.0
            if gate is not None:
                gate.wait_idle(deadline)
            # Whatever else has arrived meanwhile goes into the same transaction (one commit for all):
            # under load that is most of the prefetch, when idle it is the one message.
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._work.get_nowait())
                except queue.Empty:
                    break
            sentinels = batch.count(None)
            if sentinels:
                done = True
                for _ in range(sentinels - 1):
                    self._work.put(None)  # each handler thread needs its own to stop
            live: list[_Delivery] = []
            for delivery in batch:
                if delivery is None:
                    continue
                if self.stop_event.is_set() or delivery.generation != self._generation:
                    # Not started: leave it to the broker, which requeues it when the channel closes.
                    self._release(delivery)
                else:
                    live.append(delivery)
            if not live:
                continue
            with gate.yielding(deadline) if gate is not None else contextlib.nullcontext():
                if len(live) == 1:
                    dispositions = [self.dispatcher.deliver(self.spec.name, live[0].body, live[0].info)]
                else:
                    dispositions = self.dispatcher.deliver_many(
                        self.spec.name, [d.body for d in live], [d.info for d in live]
                    )
            # All deliveries of a batch came on one connection (its generation was checked above).
            try:
                live[0].connection.add_callback_threadsafe(
                    functools.partial(self._settle, list(zip(live, dispositions, strict=True)))
                )
            except PIKA_ERRORS:
                # The connection is gone; the messages come back on the next one and are deduplicated.
                for delivery in live:
                    self._release(delivery)

    def _release(self, delivery: _Delivery) -> None:
        with self._busy_lock:
            if self._busy[delivery.generation] <= 0:
                self._busy.pop(delivery.generation, None)
                return  # its connection closed and was forgotten (see _forget)
            self._busy[delivery.generation] -= 1
            if self._busy[delivery.generation] <= 0:
                del self._busy[delivery.generation]
        if self.spec.urgent and self.priority is not None:
            self.priority.leave()

    def _forget(self, generation: int) -> None:
        """The connection of `generation` is closed: what it delivered is no longer in hand.

        An ack handed to the connection just before it closed is dropped with it, so that delivery is
        never released; without this, the gate would count it as urgent work in hand forever and make
        merge and notify wait `max_wait` before every batch. A handler still busy with such a delivery
        releases it into nothing (see _release); the broker redelivers it on the next connection.
        """
        with self._busy_lock:
            left = self._busy.pop(generation, 0)
        if left > 0 and self.spec.urgent and self.priority is not None:
            self.priority.leave(left)


# --- the worker process -----------------------------------------------------------------------------------


class RabbitWorker:
    """What `python -m worker` runs: the outbox relay, the consumers and the webhook sender.

    Several workers may run against the same database and broker: relays claim rows with SKIP LOCKED,
    consumers compete on the queues, and the handlers' ledger makes any duplicate harmless.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        consumers: Sequence[str] = tuple(CONSUMERS_BY_NAME),
        relay: bool = True,
        webhooks: bool = True,
        prefetch: int = DEFAULT_PREFETCH,
        concurrency: int = 1,
        poll_interval: float = 2.0,
        relay_lanes: int | None = None,
        health_file: Path | None = None,
    ) -> None:
        """`health_file`: where to keep the worker's status up to date for `--check` (worker/health.py)."""
        if not settings.amqp_url:
            raise BusUnavailable("TIERTRACE_AMQP_URL is not set")
        unknown = set(consumers) - set(CONSUMERS_BY_NAME)
        if unknown:
            raise ValueError(f"unknown consumers: {', '.join(sorted(unknown))}")
        self.settings = settings
        self.url = settings.amqp_url
        self.session_factory = session_factory
        self.topo = topology(settings.bus_prefix)
        self.stop_event = threading.Event()
        self.state = WorkerState.STARTING
        #: Why the worker is in its state, when that says more: what it waits for, why it stopped.
        self.state_reason: str | None = None
        self.started_at = time.time()
        self.health = HealthFile(health_file, self.status) if health_file is not None else None
        self.webhook_sender = (
            WebhookSender(session_factory, allow_private=settings.webhook_allow_private) if webhooks else None
        )
        handlers = build_handlers(
            settings, on_webhook_queued=self.webhook_sender.wake if self.webhook_sender else None
        )
        self.dispatcher = Dispatcher(
            session_factory,
            handlers,
            stop=self.stop_event,
            delivery_limit=DELIVERY_LIMIT,
            dead_letter_queues={q.consumer: q.dead_letter_queue for q in self.topo.queues},
        )
        # Propagation first: merge and notify wait while the work of a hop is in hand.
        self.priority = PriorityGate()
        # Only where transactions take row locks: SQLite's one writer at a time would make the urgent
        # handler wait for the batch that waits for it.
        engine = self.engine
        if (
            engine is not None
            and engine.dialect.name == "postgresql"
            and not event.contains(engine, "before_cursor_execute", yield_to_urgent_work)
        ):
            event.listen(engine, "before_cursor_execute", yield_to_urgent_work)
        self.consumers = [
            QueueConsumer(
                self.url,
                CONSUMERS_BY_NAME[name],
                self.topo.queue_of(name).name,
                self.dispatcher,
                topo=self.topo,
                prefetch=prefetch,
                concurrency=concurrency,
                priority=self.priority,
                on_failure=self.stop_event.set,
            )
            for name in consumers
        ]
        self.publisher = ConfirmingPublisher(self.url, self.topo.exchange) if relay else None
        # Two relay lanes on PostgreSQL: while one waits for its batch's confirms (row locks held),
        # the other claims what committed meanwhile (SKIP LOCKED keeps them apart), so a new event never
        # waits behind a confirm round trip. On SQLite a second lane would only queue for the write lock.
        # The lanes share one waker, which wakes one idle lane per commit (see OutboxWaker).
        lanes = relay_lanes if relay_lanes is not None else (2 if self._dialect() == "postgresql" else 1)
        # Beside propagation, a relay pass is on the path of a hop too: merge and notify wait for it.
        urgent = self.priority if any(c.spec.urgent for c in self.consumers) else None
        self.relays = (
            [
                OutboxRelay(session_factory, self.publisher, poll_interval=poll_interval, urgent=urgent)
                for _ in range(lanes)
            ]
            if self.publisher is not None
            else []
        )
        self._relay_waker: OutboxWaker | None = None
        self._threads: list[threading.Thread] = []
        interval = getattr(settings, "overdue_sweep_seconds", 0)
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

    @property
    def engine(self) -> Engine | None:
        bind = self.session_factory.kw.get("bind")
        return bind if isinstance(bind, Engine) else None

    def _dialect(self) -> str | None:
        engine = self.engine
        return engine.dialect.name if engine is not None else None

    @property
    def database_address(self) -> str:
        """The database URL with its password masked (SQLAlchemy's ``***``)."""
        engine = self.engine
        return engine.url.render_as_string(hide_password=True) if engine is not None else "?"

    def describe(self) -> str:
        """What this worker runs against, for the log: no passwords."""
        return ", ".join(
            [
                f"broker {broker_address(self.url)}",
                f"prefix {self.settings.bus_prefix!r}",
                f"database {self.database_address}",
                f"consumers {', '.join(c.spec.name for c in self.consumers) or 'none'}",
                f"relay {f'{len(self.relays)} lane(s)' if self.relays else 'off'}",
            ]
        )

    def status(self) -> dict[str, Any]:
        """The content of the health file (worker/health.py): no passwords."""
        relay: dict[str, Any] | None = None
        if self.publisher is not None:
            # The lane that finished a pass longest ago speaks for the relay.
            finished = [r.last_pass_at for r in self.relays if r.last_pass_at is not None]
            relay = {
                "publisher_connected": self.publisher.ready,
                "last_pass_at": timestamp(min(finished)) if len(finished) == len(self.relays) else None,
            }
        return {
            "pid": os.getpid(),
            "state": str(self.state),
            "reason": self.state_reason,
            "started_at": timestamp(self.started_at),
            "updated_at": timestamp(time.time()),
            "consumers": {c.spec.name: c.consuming for c in self.consumers},
            "relay": relay,
        }

    def _set_state(self, state: WorkerState, reason: str | None = None) -> None:
        self.state, self.state_reason = state, reason
        if self.health is not None:
            self.health.wake()

    def _check_database(self) -> None:
        """Raise SQLAlchemyError when the database does not answer, migrations.SchemaError until it has
        the newest schema (`tiertrace serve` may be migrating it right now), UnknownRevisionError when a
        newer release migrated it."""
        with self.session_factory() as session:
            revision = migrations.revision_of(session.connection())
        migrations.require_newest(revision, self.database_address)

    def _wait_for(
        self,
        what: str,
        where: str,
        attempt: Callable[[], object],
        errors: type[Exception] | tuple[type[Exception], ...],
        state: WorkerState,
    ) -> bool:
        """Call `attempt` until it does not raise one of `errors`, one line per failure; False if stop
        was asked for meanwhile (SIGTERM). The worker is in `state` meanwhile, with the last failure."""
        failures = 0
        self._set_state(state)
        while not self.stop_event.is_set():
            try:
                attempt()
                return True
            except (TopologyMismatchError, migrations.UnknownRevisionError):
                raise  # a BusUnavailable, a SchemaError that no retry can fix
            except errors as exc:
                failures += 1
                delay = Backoff(first=0.5, cap=5.0).delay(failures)
                self._set_state(state, f"{where}: {describe_error(exc)}")
                log.warning(
                    "%s not available yet at %s (%s); retrying in %.2g s",
                    what,
                    where,
                    describe_error(exc),
                    delay,
                )
                self.stop_event.wait(delay)
        return False

    def start(self) -> None:
        """Wait for the database and the broker (declaring the topology), then start everything.

        A worker that cannot reach the database, or finds it without the newest schema, takes no
        deliveries: they would only wait in its hands while other workers idle, or fail. Returns without
        starting anything when stop is asked for while it waits. Raises TopologyMismatchError, and
        migrations.UnknownRevisionError for a database that a newer release migrated.
        """
        if not self._wait_for(
            "database",
            self.database_address,
            self._check_database,
            (sa_exc.SQLAlchemyError, migrations.SchemaError),
            WorkerState.WAITING_FOR_DATABASE,
        ):
            return
        declare = functools.partial(ensure_topology, self.url, self.settings.bus_prefix)
        if not self._wait_for(
            "broker", broker_address(self.url), declare, BusUnavailable, WorkerState.WAITING_FOR_BROKER
        ):
            return
        for consumer in self.consumers:
            consumer.start()
        if self.publisher is not None:
            self.publisher.start(timeout=0)
            deadline = time.monotonic() + 30.0
            while not self.publisher.ready and time.monotonic() < deadline:
                if self.stop_event.wait(0.05):
                    return
            if not self.publisher.ready:
                log.warning("the publisher is not connected yet; the relay retries until it is")
            self._relay_waker = OutboxWaker(self.engine)
            for i, relay in enumerate(self.relays):
                thread = threading.Thread(
                    target=relay.run, args=(self._relay_waker,), name=f"bus-relay-{i}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        if self.webhook_sender is not None:
            self.webhook_sender.start()
        if self.overdue is not None:
            self.overdue.start()
        self._set_state(WorkerState.RUNNING)
        log.info("worker started: %s", self.describe())

    def stop(self, timeout: float = 30.0, reason: str | None = None) -> None:
        """Finish the messages in hand, acknowledge them, stop relaying, disconnect. `reason`: why, for
        the health file, when the worker stops by itself."""
        self.stop_event.set()
        self._set_state(WorkerState.STOPPING, reason)
        for relay in self.relays:
            relay.stop()
        for consumer in self.consumers:
            consumer.stop()
        for consumer in self.consumers:
            consumer.join(timeout)
        for thread in self._threads:
            thread.join(timeout)
        if self._relay_waker is not None:
            self._relay_waker.close()
        if self.publisher is not None:
            self.publisher.close()
        if self.webhook_sender is not None:
            self.webhook_sender.stop()
        if self.overdue is not None:
            self.overdue.stop()
        self._set_state(WorkerState.STOPPED, reason)
        log.info("worker stopped")

    def run(self) -> int:
        """Run until SIGTERM or SIGINT, then stop gracefully (the message in hand is finished first).

        Returns the exit status: 0, or 1 after what no retry can fix: a topology mismatch (at start, or
        met by a consumer when it reconnected), or a database that a newer release migrated (logged in
        one line). Keeps the health file, if any, up to date meanwhile, and writes it a last time once
        stopped.
        """

        def request_stop(signum: int, _frame: Any) -> None:
            log.info("received %s; finishing the messages in hand", signal.Signals(signum).name)
            self.stop_event.set()

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        failure: TopologyMismatchError | migrations.UnknownRevisionError | None = None
        if self.health is not None:
            self.health.start()
        try:
            try:
                self.start()
            except (TopologyMismatchError, migrations.UnknownRevisionError) as exc:
                log.error("%s", exc)  # one line: the traceback tells an operator nothing more
                failure = exc
                self.stop_event.set()
            # Set by a signal, or by a consumer that met a topology mismatch.
            while not self.stop_event.wait(1.0):
                pass
        finally:
            failure = failure or next((c.failure for c in self.consumers if c.failure), None)
            self.stop(reason=str(failure) if failure else None)
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self.health is not None:
                self.health.stop()
        return 1 if failure else 0
