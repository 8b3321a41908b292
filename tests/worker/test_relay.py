"""The outbox relay: marks rows sent only once confirmed, claims rows once among several relays, and
wakes on commits rather than polls."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from bus_support import count_rows, requires_postgresql
from sqlalchemy import insert, select

from schemas.bus import load_message
from tiertrace.outbox.models import OutboxEvent
from tiertrace.outbox.services import NOTIFY_CHANNEL, on_outbox_commit, record_event
from worker.errors import BusUnavailable
from worker.relay import OutboxRelay, OutboxWaker, encode_event


class FakeConfirms:
    def __init__(self, confirmed):
        self.confirmed = set(confirmed)

    def wait(self, timeout):
        return set(self.confirmed)


class FakePublisher:
    """Confirms what `confirm(message)` says; records every publish."""

    def __init__(self, confirm=lambda message: True, delay=0.0):
        self.confirm = confirm
        self.delay = delay
        self.published = []
        self.lock = threading.Lock()

    def publish(self, messages):
        with self.lock:
            self.published.extend(messages)
        time.sleep(self.delay)  # confirms in flight while the row locks are held
        return FakeConfirms(m.message_id for m in messages if self.confirm(m))


class DownPublisher:
    def publish(self, messages):
        raise BusUnavailable("no broker")


def add_events(session_factory, n):
    with session_factory() as session:
        for i in range(n):
            record_event(session, "request.created", {"request_id": f"00000000-0000-4000-8000-{i:012d}"})
        session.commit()


def test_only_confirmed_rows_are_marked_sent_and_the_rest_go_out_again(session_factory):
    add_events(session_factory, 6)
    flaky = FakePublisher(confirm=lambda m: m.seq % 2 == 0)
    relay = OutboxRelay(session_factory, flaky)
    assert relay.publish_pending() == (6, 3)
    assert count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 3
    steady = FakePublisher()
    assert OutboxRelay(session_factory, steady).publish_pending() == (3, 3)
    assert sorted(m.seq % 2 for m in steady.published) == [1, 1, 1]
    assert count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 0


def test_nothing_is_marked_sent_while_the_broker_is_away(session_factory):
    add_events(session_factory, 3)
    with pytest.raises(BusUnavailable):
        OutboxRelay(session_factory, DownPublisher()).publish_pending()
    assert count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 3


def test_rows_go_out_in_seq_order_as_valid_bus_messages(session_factory):
    add_events(session_factory, 5)
    publisher = FakePublisher()
    OutboxRelay(session_factory, publisher, batch_size=2).publish_pending()
    OutboxRelay(session_factory, publisher, batch_size=10).publish_pending()
    assert [m.seq for m in publisher.published] == sorted(m.seq for m in publisher.published)
    for message in publisher.published:
        assert message.routing_key == "request.created.v1"
        assert load_message(message.body)["message_id"] == message.message_id


def test_a_row_that_breaks_the_bus_schema_is_still_sent_so_that_consumers_dead_letter_it(session_factory):
    with session_factory() as session:
        session.add(OutboxEvent(type="request.created", version=1, payload={"request": "not an id"}))
        session.commit()
        row = session.scalars(select(OutboxEvent)).one()
    message = encode_event(row)
    with pytest.raises(Exception, match="request_id"):
        load_message(message.body)


def test_several_relays_at_once_publish_each_row_exactly_once(session_factory):
    requires_postgresql()  # SKIP LOCKED is what lets them work side by side
    add_events(session_factory, 400)
    publisher = FakePublisher(delay=0.02)
    relays = [OutboxRelay(session_factory, publisher, batch_size=25) for _ in range(4)]

    def drain(relay):
        while relay.publish_pending()[0]:
            pass

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(m.message_id for m in publisher.published)
    assert len(counts) == 400 and set(counts.values()) == {1}
    assert sum(1 for r in relays if r.published) > 1  # they really shared the work
    assert count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 0


def test_the_relay_wakes_on_a_committed_outbox_row_instead_of_waiting_for_its_poll(session_factory, engine):
    waker = OutboxWaker(engine)
    try:
        waker.wait(0)  # opens the LISTEN connection on PostgreSQL
        waker.wait(0)
        start = time.monotonic()
        timer = threading.Timer(0.2, add_events, args=(session_factory, 1))
        timer.start()
        waker.wait(10.0)
        assert 0.15 < time.monotonic() - start < 2.0
    finally:
        timer.join()
        waker.close()


def test_on_postgresql_a_commit_in_another_process_wakes_the_relay_through_notify(engine):
    requires_postgresql()
    waker = OutboxWaker(engine)
    try:
        waker.wait(0)
        waker.wait(0)

        def commit_elsewhere():
            # A plain connection: no in-process signal, only the NOTIFY that commits with the row.
            with engine.begin() as connection:
                connection.execute(insert(OutboxEvent).values(type="request.created", version=1, payload={}))
                connection.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")

        start = time.monotonic()
        timer = threading.Timer(0.2, commit_elsewhere)
        timer.start()
        waker.wait(10.0)
        assert 0.15 < time.monotonic() - start < 2.0
    finally:
        timer.join()
        waker.close()


def test_a_wake_up_ends_the_wait_of_one_lane_only_and_stop_ends_the_others(engine):
    waker = OutboxWaker(engine)
    returned = []
    stop = threading.Event()

    def lane():
        waker.wait(5.0, stop)
        returned.append(time.monotonic())

    lanes = [threading.Thread(target=lane) for _ in range(2)]
    try:
        waker.wait(0)  # opens the LISTEN connection on PostgreSQL
        for thread in lanes:
            thread.start()
        time.sleep(0.2)  # both lanes wait
        waker.wake()
        time.sleep(0.5)
        assert len(returned) == 1  # the other lane would only have found the rows claimed
        start = time.monotonic()
        stop.set()
        waker.wake()
        for thread in lanes:
            thread.join(5.0)
        assert len(returned) == 2 and returned[1] - start < 1.0
    finally:
        stop.set()
        waker.close()


def test_on_postgresql_a_commit_in_this_process_wakes_the_relay_once(session_factory, engine):
    requires_postgresql()
    # Runs before the waker's own in-process signal would: the NOTIFY of the commit is in by then.
    unregister = on_outbox_commit(lambda: time.sleep(0.3))
    waker = OutboxWaker(engine)
    try:
        waker.wait(0)
        waker.wait(0)
        timer = threading.Timer(0.1, add_events, args=(session_factory, 1))
        timer.start()
        waker.wait(5.0)
        start = time.monotonic()
        waker.wait(1.0)
        # No second wake-up for the same commit, which would only run an empty pass.
        assert time.monotonic() - start > 0.9
    finally:
        timer.join()
        unregister()
        waker.close()


class CountingGate:
    def __init__(self):
        self.in_hand = 0

    def enter(self):
        self.in_hand += 1

    def leave(self, count=1):
        self.in_hand -= count


def test_a_pass_is_urgent_work_while_it_runs_so_that_merge_and_notify_step_aside(session_factory):
    gate = CountingGate()
    seen = []

    class Publisher(FakePublisher):
        def publish(self, messages):
            seen.append(gate.in_hand)
            return super().publish(messages)

    add_events(session_factory, 2)
    assert OutboxRelay(session_factory, Publisher(), urgent=gate).publish_pending() == (2, 2)
    assert seen == [1] and gate.in_hand == 0
    add_events(session_factory, 1)
    with pytest.raises(BusUnavailable):
        OutboxRelay(session_factory, DownPublisher(), urgent=gate).publish_pending()
    assert gate.in_hand == 0
