"""The scale-out transport against the machine's real RabbitMQ: topology, propagation, redelivery,
poison messages, heartbeats, lost connections and shutdown."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pika
import pytest
from bus_support import (
    component,
    count_rows,
    open_request_for,
    rabbitmqctl,
    requires_postgresql,
    wait_for,
)
from sqlalchemy import event, select, text

from schemas.bus import dump_message
from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.outbox.models import OutboxEvent, ProcessedMessage
from tiertrace.outbox.services import EVENT_TYPES
from worker.handlers import CONSUMERS, DELIVERY_LIMIT, Backoff, Dispatcher, consumers_for
from worker.rabbitmq import (
    PriorityGate,
    QueueConsumer,
    RabbitWorker,
    ensure_topology,
    topology,
    yield_to_urgent_work,
)

pytestmark = pytest.mark.rabbitmq
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(broker_settings, session_factory):
    worker = RabbitWorker(broker_settings, session_factory, poll_interval=0.5)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def channel(amqp_url):
    """A plain pika channel on this run's vhost, for publishing and inspecting queues by hand."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    connection.close()


def message_count(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def publish(channel, exchange: str, key: str, body: bytes, message_id: str | None = None) -> None:
    properties = pika.BasicProperties(delivery_mode=2, message_id=message_id)
    channel.basic_publish(exchange, key, body, properties, mandatory=True)


def test_every_event_type_the_outbox_emits_is_taken_by_some_consumer():
    # The relay publishes with `mandatory`: an event no queue takes would be returned and stay unsent.
    for event_type, version in EVENT_TYPES.items():
        assert consumers_for(f"{event_type}.v{version}"), event_type


def test_the_topology_has_a_quorum_queue_per_consumer_with_a_delivery_limit_and_a_dead_letter_queue(
    amqp_url, bus_prefix
):
    topo = ensure_topology(amqp_url, bus_prefix)
    ensure_topology(amqp_url, bus_prefix)  # declaring again changes nothing and does not fail
    vhost = amqp_url.rsplit("/", 1)[1]
    listed = rabbitmqctl("list_queues", "-p", vhost, "name", "type", "arguments", "--formatter", "json")
    queues = {q["name"]: q for q in json.loads(listed) if q["name"].startswith(bus_prefix)}
    assert topo.exchange == f"{bus_prefix}tiertrace.events"
    assert sorted(queues) == sorted(
        [f"{bus_prefix}{s.name}.{s.purpose}" for s in CONSUMERS]
        + [f"{bus_prefix}{s.name}.{s.purpose}.dlq" for s in CONSUMERS]
    )
    for spec in CONSUMERS:
        name = spec.queue(bus_prefix)
        assert queues[name]["type"] == "quorum"
        arguments = {key: value for key, _type, value in queues[name]["arguments"]}
        assert arguments["x-delivery-limit"] == DELIVERY_LIMIT
        assert arguments["x-dead-letter-exchange"] == f"{bus_prefix}tiertrace.dead-letters"
        assert arguments["x-dead-letter-routing-key"] == f"{name}.dlq"
        assert queues[f"{name}.dlq"]["type"] == "quorum"


def test_a_five_tier_chain_propagates_end_to_end_over_rabbitmq(worker, session_factory, five_tier_chain):
    chain = five_tier_chain()
    members, declarations = chain["members"], chain["declarations"]
    wait_for(lambda: count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 0)
    with session_factory() as session:
        forwarded = {
            r.supplier_id: r
            for r in session.scalars(
                select(DisclosureRequest).where(DisclosureRequest.source_declaration_id.is_not(None))
            )
        }
    assert len(forwarded) == 4
    for tier in range(1, 5):
        request = forwarded[members[tier].organization.id]
        assert request.requester_id == members[tier - 1].organization.id
        assert request.status == "answered" and request.declaration_id == declarations[tier].id
        assert request.parent_id == (None if tier == 1 else forwarded[members[tier - 1].organization.id].id)
        assert request.program == "ZEEHAVIK"
    # The merge and notify consumers saw everything too.
    wait_for(
        lambda: count_rows(session_factory, ProcessedMessage, ProcessedMessage.consumer == "notify") == 4
    )
    wait_for(lambda: count_rows(session_factory, ProcessedMessage, ProcessedMessage.consumer == "merge") == 9)


def test_the_same_event_delivered_twice_has_one_effect(
    worker, session_factory, make_org, make_payload, submit, channel
):
    oem, one, two = make_org(), make_org(), make_org()
    declaration = submit(
        oem,
        make_payload(oem.slug, "FRIGATE", components=[component(one.slug, "A"), component(two.slug, "B")]),
    )
    wait_for(open_request_for(session_factory, two.organization.id, "B"))
    # propagate: the declaration; merge: it and both new requests; notify: both new requests.
    wait_for(lambda: count_rows(session_factory, ProcessedMessage) == 1 + 3 + 2)
    before = {
        model: count_rows(session_factory, model)
        for model in (DisclosureRequest, Notification, OutboxEvent, ProcessedMessage)
    }
    with session_factory() as session:
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "declaration.accepted")).one()
        assert event.payload["declaration_id"] == declaration.id
        body = dump_message(event.message_id, event.type, event.version, event.payload)
    propagate = next(c for c in worker.consumers if c.spec.name == "propagate")
    acked = propagate.stats.acked
    # The broker delivers the very same message again (as after a lost ack).
    publish(channel, worker.topo.exchange, "declaration.accepted.v1", body)
    wait_for(lambda: propagate.stats.acked == acked + 1)
    after = {model: count_rows(session_factory, model) for model in before}
    assert after == before


def test_a_poison_message_lands_in_its_dead_letter_queue_while_the_rest_flow(
    worker, session_factory, make_org, make_payload, submit, channel, caplog
):
    topo = worker.topo
    publish(channel, topo.exchange, "declaration.accepted.v1", b"\x00 this is not JSON", "amqp-id-1")
    wrong_version = {
        "message_id": str(uuid.uuid4()),
        "type": "request.created",
        "version": "1",
        "payload": {},
    }
    publish(channel, topo.exchange, "request.created.v1", json.dumps(wrong_version).encode())
    # The rest flows.
    oem, supplier = make_org(), make_org()
    submit(oem, make_payload(oem.slug, "FRIGATE", components=[component(supplier.slug, "RADAR")]))
    wait_for(open_request_for(session_factory, supplier.organization.id, "RADAR"))
    # Each queue that got a poison message dead-letters it at once (no redelivery loop).
    wait_for(lambda: message_count(channel, topo.queue_of("propagate").dead_letter_queue) == 1)
    wait_for(lambda: message_count(channel, topo.queue_of("merge").dead_letter_queue) == 2)
    wait_for(lambda: message_count(channel, topo.queue_of("notify").dead_letter_queue) == 1)
    _, _, body = channel.basic_get(topo.queue_of("propagate").dead_letter_queue, auto_ack=True)
    assert body == b"\x00 this is not JSON"
    assert message_count(channel, topo.queue_of("propagate").name) == 0
    # One ERROR line per consumer: the AMQP message id (the body has none) and where it went.
    [line] = [r for r in caplog.records if r.getMessage().startswith("propagate: message amqp-id-1 ")]
    assert line.levelno == logging.ERROR and "invalid" in line.getMessage()
    assert topo.queue_of("propagate").dead_letter_queue in line.getMessage()


def test_a_message_whose_handler_keeps_failing_is_dead_lettered_after_the_delivery_limit(
    worker, session_factory, channel, caplog
):
    topo = worker.topo
    message_id = str(uuid.uuid4())
    unknown = dump_message(
        message_id,
        "declaration.accepted",
        1,
        {"declaration_id": str(uuid.uuid4()), "supersedes_id": None},
    )
    publish(channel, topo.exchange, "declaration.accepted.v1", unknown)
    wait_for(lambda: message_count(channel, topo.queue_of("propagate").dead_letter_queue) == 1, timeout=60)
    propagate = next(c for c in worker.consumers if c.spec.name == "propagate")
    # RabbitMQ dead-letters once the count of returns goes past the limit (3.10: the (limit + 1)th).
    assert DELIVERY_LIMIT <= propagate.stats.requeued <= DELIVERY_LIMIT + 1
    # The merge consumer ignores an unknown declaration: nothing of it in its dead-letter queue.
    assert message_count(channel, topo.queue_of("merge").dead_letter_queue) == 0
    # One line per delivery (before: a traceback at ERROR for each of 3 tries of each delivery): a
    # WARNING with the delivery count, its traceback the first time only, and an ERROR naming the DLQ
    # on the last delivery.
    lines = [r for r in caplog.records if message_id in r.getMessage() and r.levelno >= logging.WARNING]
    assert [r.levelno for r in lines] == [logging.WARNING] * DELIVERY_LIMIT + [logging.ERROR]
    assert [bool(r.exc_info) for r in lines] == [True] + [False] * DELIVERY_LIMIT
    for number, line in enumerate(lines[:-1], start=1):
        assert f"delivery {number} of at most {DELIVERY_LIMIT + 1}" in line.getMessage()
    assert topo.queue_of("propagate").dead_letter_queue in lines[-1].getMessage()


def _valid_message() -> bytes:
    payload = {"declaration_id": str(uuid.uuid4()), "supersedes_id": None}
    return dump_message(str(uuid.uuid4()), "declaration.accepted", 1, payload)


def _lone_consumer(amqp_url, bus_prefix, session_factory, handler, *, query=""):
    """A propagate consumer whose handler is `handler`, on this test's topology."""
    topo = ensure_topology(amqp_url, bus_prefix)
    spec = next(s for s in CONSUMERS if s.name == "propagate")
    dispatcher = Dispatcher(session_factory, {"propagate": handler}, backoff=Backoff(first=0.01, cap=0.05))
    consumer = QueueConsumer(amqp_url + query, spec, topo.queue_of("propagate").name, dispatcher, topo=topo)
    consumer.start()
    wait_for(consumer.connected.is_set)
    return topo, consumer


def test_a_handler_that_runs_longer_than_two_heartbeats_keeps_its_connection(
    amqp_url, bus_prefix, session_factory, channel
):
    done = threading.Event()

    def slow(_session, _message):
        time.sleep(3.5)  # the broker drops a connection silent for two heartbeats (2 x 1 s here)
        done.set()

    topo, consumer = _lone_consumer(amqp_url, bus_prefix, session_factory, slow, query="?heartbeat=1")
    try:
        publish(channel, topo.exchange, "declaration.accepted.v1", _valid_message())
        wait_for(done.is_set, timeout=15)
        wait_for(lambda: consumer.stats.acked == 1)
        assert consumer.stats.connections == 1
        assert message_count(channel, topo.queue_of("propagate").name) == 0
    finally:
        consumer.stop()
        consumer.join(10)


def test_stopping_a_consumer_finishes_the_message_in_hand_and_acknowledges_it(
    amqp_url, bus_prefix, session_factory, channel
):
    started, finished = threading.Event(), threading.Event()

    def slow(_session, _message):
        started.set()
        time.sleep(1.0)
        finished.set()

    topo, consumer = _lone_consumer(amqp_url, bus_prefix, session_factory, slow)
    message = _valid_message()
    publish(channel, topo.exchange, "declaration.accepted.v1", message)
    wait_for(started.is_set)
    consumer.stop()
    consumer.join(10)
    assert finished.is_set()
    assert consumer.stats.acked == 1
    assert message_count(channel, topo.queue_of("propagate").name) == 0
    assert (
        count_rows(
            session_factory,
            ProcessedMessage,
            ProcessedMessage.message_id == json.loads(message)["message_id"],
        )
        == 1
    )


def test_the_worker_reconnects_after_the_broker_closed_its_connections_and_goes_on(
    worker, amqp_url, session_factory, make_org, make_payload, submit
):
    oem, one, two = make_org(), make_org(), make_org()
    submit(oem, make_payload(oem.slug, "FRIGATE", components=[component(one.slug, "A")]))
    wait_for(open_request_for(session_factory, one.organization.id, "A"))
    vhost = amqp_url.rsplit("/", 1)[1]
    rabbitmqctl("close_all_connections", "-p", vhost, "test: connection lost")
    submit(oem, make_payload(oem.slug, "CORVETTE", components=[component(two.slug, "B")]))
    wait_for(open_request_for(session_factory, two.organization.id, "B"), timeout=30)
    wait_for(lambda: all(c.stats.connections >= 2 and c.connected.is_set() for c in worker.consumers))


def test_python_dash_m_worker_stops_cleanly_on_sigterm(broker_settings, database_url):
    env = {
        **os.environ,
        "TIERTRACE_DATABASE_URL": database_url,
        "TIERTRACE_AMQP_URL": broker_settings.amqp_url,
        "TIERTRACE_BUS_PREFIX": broker_settings.bus_prefix,
        "TIERTRACE_DATA_DIR": str(broker_settings.data_dir),
        "TIERTRACE_SECRET_KEY": "test",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "worker", "--log-level", "INFO"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            lines = []
            for line in process.stderr:
                lines.append(line)
                if "worker started" in line:
                    break
            else:
                pytest.fail("the worker did not start:\n" + "".join(lines))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            assert "worker stopped" in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_a_queue_declared_before_with_other_arguments_is_reported_as_a_topology_mismatch(
    amqp_url, bus_prefix, monkeypatch
):
    import worker.rabbitmq as transport
    from worker.errors import TopologyMismatchError

    ensure_topology(amqp_url, bus_prefix)
    # RabbitMQ refuses to change a queue in place; the transport says so instead of a bare pika error.
    monkeypatch.setattr(transport, "DELIVERY_LIMIT", DELIVERY_LIMIT + 1)
    with pytest.raises(TopologyMismatchError):
        ensure_topology(amqp_url, bus_prefix)


def test_deliveries_handled_in_one_batch_are_all_acknowledged_and_none_twice(
    amqp_url, bus_prefix, session_factory, channel
):
    first, release, seen = threading.Event(), threading.Event(), []

    def handler(_session, message):
        seen.append(message["message_id"])
        if len(seen) == 1:
            first.set()
            release.wait(10)  # the others queue up meanwhile and come in batches

    topo, consumer = _lone_consumer(amqp_url, bus_prefix, session_factory, handler)
    try:
        for _ in range(40):
            publish(channel, topo.exchange, "declaration.accepted.v1", _valid_message())
        wait_for(first.is_set)
        wait_for(lambda: consumer._work.qsize() >= 20)
        release.set()
        wait_for(lambda: consumer.stats.acked == 40)
    finally:
        consumer.stop()
        consumer.join(10)
    # Closing the channel would have given back anything left unacknowledged.
    assert message_count(channel, topo.queue_of("propagate").name) == 0
    assert len(seen) == len(set(seen)) == 40
    assert consumer.stats.requeued == 0


def test_a_consumer_that_is_not_urgent_waits_while_an_urgent_one_has_work_in_hand():
    gate = PriorityGate(max_wait=5.0)
    gate.enter()
    passed = threading.Event()
    waiter = threading.Thread(target=lambda: (gate.wait_idle(), passed.set()))
    waiter.start()
    assert not passed.wait(0.2)
    gate.leave()
    assert passed.wait(2)
    waiter.join()
    # It never waits longer than max_wait.
    gate = PriorityGate(max_wait=0.1)
    gate.enter()
    start = time.monotonic()
    gate.wait_idle()
    assert 0.05 < time.monotonic() - start < 2
    assert [s.name for s in CONSUMERS if s.urgent] == ["propagate"]


def test_a_batch_that_is_not_urgent_steps_aside_before_each_statement_while_urgent_work_is_in_hand(
    broker_settings, session_factory, engine
):
    requires_postgresql()  # on SQLite the paused batch would hold the one write lock
    worker = RabbitWorker(broker_settings, session_factory)
    gate = worker.priority
    assert event.contains(engine, "before_cursor_execute", yield_to_urgent_work)
    go, done = threading.Event(), []

    def merge_like_batch():
        with gate.yielding(time.monotonic() + 5.0), engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            done.append("first")
            go.wait(5)
            connection.execute(text("SELECT 2"))
            done.append("second")

    batch = threading.Thread(target=merge_like_batch)
    batch.start()
    wait_for(lambda: done == ["first"])
    gate.enter()  # a propagate delivery arrived, or a relay pass began
    go.set()
    time.sleep(0.3)
    assert done == ["first"]
    with engine.connect() as connection:  # a thread outside `yielding` (propagate, relay) never waits
        start = time.monotonic()
        connection.execute(text("SELECT 3"))
        assert time.monotonic() - start < 0.25
    gate.leave()
    batch.join(5)
    assert done == ["first", "second"]
    # Never past the batch's deadline.
    gate.enter()
    start = time.monotonic()
    with gate.yielding(time.monotonic() + 0.2), engine.connect() as connection:
        connection.execute(text("SELECT 4"))
    assert 0.15 < time.monotonic() - start < 2


def test_relay_passes_count_as_urgent_work_in_a_worker_that_propagates(broker_settings, session_factory):
    worker = RabbitWorker(broker_settings, session_factory)
    assert worker.relays and all(relay.urgent is worker.priority for relay in worker.relays)
    merging = RabbitWorker(broker_settings, session_factory, consumers=["merge", "notify"])
    assert merging.relays and all(relay.urgent is None for relay in merging.relays)


def test_a_closed_connection_takes_its_urgent_deliveries_off_the_gate():
    """An ack handed to a connection that then closes is dropped with it: the delivery is never released.
    Before, the gate kept counting it as urgent work in hand, and merge and notify waited max_wait before
    every batch from then on."""
    gate = PriorityGate(max_wait=5.0)
    spec = next(s for s in CONSUMERS if s.name == "propagate")
    topo = topology("test.")
    consumer = QueueConsumer("amqp://guest:guest@127.0.0.1:1/%2F", spec, "q", None, topo=topo, priority=gate)
    for tag in (1, 2):
        consumer._on_message(None, 7, None, SimpleNamespace(delivery_tag=tag), None, b"{}")
    stale = consumer._work.get_nowait()

    consumer._forget(7)  # what _consume does once the connection of generation 7 is closed

    start = time.monotonic()
    gate.wait_idle()
    assert time.monotonic() - start < 1
    consumer._release(stale)  # a handler finishing late releases into nothing...
    gate.enter()
    assert gate._urgent == 1  # ...so the next urgent delivery still counts
