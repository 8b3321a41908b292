"""The one set of handlers: validation, the ledger that makes them idempotent, retries."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import uuid

import pika
import pytest
from bus_support import component, count_rows
from sqlalchemy import create_engine, select
from sqlalchemy import exc as sa_exc

from schemas.bus import dump_message
from tiertrace.audit.models import AuditLogEntry
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.outbox.models import ProcessedMessage
from worker.handlers import (
    DELIVERY_LIMIT,
    Backoff,
    DeliveryInfo,
    Dispatcher,
    Disposition,
    Outcome,
    build_handlers,
    describe_error,
    is_transient,
    run_handler,
)


def message(**payload):
    payload = payload or {"declaration_id": str(uuid.uuid4()), "supersedes_id": None}
    return dump_message(str(uuid.uuid4()), "declaration.accepted", 1, payload)


def test_a_message_is_handled_once_however_often_it_is_delivered(session_factory):
    calls = []
    dispatcher = Dispatcher(session_factory, {"propagate": lambda s, m: calls.append(m["message_id"])})
    body = message()
    assert [dispatcher.deliver("propagate", body) for _ in range(3)] == [Disposition.ACK] * 3
    assert len(calls) == 1
    assert count_rows(session_factory, ProcessedMessage) == 1


def test_two_deliveries_racing_each_other_run_the_handler_once(session_factory):
    entered, release, calls = threading.Event(), threading.Event(), []

    def slow(_session, m):
        calls.append(m["message_id"])
        entered.set()
        release.wait(5)

    parsed = {"message_id": str(uuid.uuid4()), "type": "declaration.accepted", "version": 1, "payload": {}}
    outcomes = []
    first = threading.Thread(
        target=lambda: outcomes.append(run_handler(session_factory, "propagate", slow, parsed))
    )
    first.start()
    entered.wait(5)
    # The second waits on the first's uncommitted ledger row (a lock), then finds it.
    second = threading.Thread(
        target=lambda: outcomes.append(run_handler(session_factory, "propagate", slow, parsed))
    )
    second.start()
    release.set()
    first.join()
    second.join()
    assert sorted(o.value for o in outcomes) == [Outcome.DUPLICATE.value, Outcome.PROCESSED.value]
    assert len(calls) == 1


def test_a_message_that_fails_validation_is_dead_lettered_without_running_anything(session_factory):
    calls = []
    dispatcher = Dispatcher(session_factory, {"propagate": lambda s, m: calls.append(m)})
    assert dispatcher.deliver("propagate", b"{not json") is Disposition.DEAD_LETTER
    bad_payload = {
        "message_id": str(uuid.uuid4()),
        "type": "declaration.accepted",
        "version": 1,
        "payload": {},
    }
    assert dispatcher.deliver("propagate", json.dumps(bad_payload).encode()) is Disposition.DEAD_LETTER
    wrong_queue = dump_message(str(uuid.uuid4()), "request.declined", 1, {"request_id": str(uuid.uuid4())})
    assert dispatcher.deliver("propagate", wrong_queue) is Disposition.DEAD_LETTER
    assert calls == [] and count_rows(session_factory, ProcessedMessage) == 0


def test_a_failing_handler_changes_nothing_and_the_delivery_is_handed_back(session_factory):
    def broken(session, m):
        session.add(ProcessedMessage(consumer="other", message_id=m["message_id"]))
        raise RuntimeError("bug")

    dispatcher = Dispatcher(session_factory, {"propagate": broken}, attempts=2, backoff=Backoff(first=0.001))
    assert dispatcher.deliver("propagate", message()) is Disposition.RETRY
    assert count_rows(session_factory, ProcessedMessage) == 0  # the ledger row rolled back with the effect


def test_a_transient_database_failure_is_retried_until_it_passes(session_factory):
    failures = [
        sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")) for _ in range(3)
    ]
    calls = []

    def flaky(_session, m):
        calls.append(1)
        if failures:
            raise failures.pop()

    dispatcher = Dispatcher(session_factory, {"propagate": flaky}, attempts=1, backoff=Backoff(first=0.001))
    assert dispatcher.deliver("propagate", message()) is Disposition.ACK
    assert len(calls) == 4


def test_transient_errors_are_told_apart_from_bugs():
    assert is_transient(sa_exc.OperationalError("x", {}, Exception("deadlock detected")))
    assert not is_transient(sa_exc.IntegrityError("x", {}, Exception("duplicate key")))
    assert not is_transient(ValueError("bug"))


def _sqlite_error(tmp_path, statement: str, *, hold_lock: bool = False) -> sa_exc.OperationalError:
    """The OperationalError SQLite itself raises for `statement` (a real error code, not a made-up one)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'errors.sqlite3'}", connect_args={"timeout": 0})
    with engine.connect() as holder, engine.connect() as connection:
        if hold_lock:
            holder.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x)")
            holder.commit()
            holder.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(sa_exc.OperationalError) as raised:
            connection.exec_driver_sql(statement)
    engine.dispose()
    return raised.value


def test_sqlite_errors_that_come_back_on_every_try_are_not_transient(tmp_path):
    locked = _sqlite_error(tmp_path, "INSERT INTO t VALUES (1)", hold_lock=True)
    assert "database is locked" in str(locked) and is_transient(locked)
    malformed = _sqlite_error(tmp_path, "SELECT json('{')")
    assert "malformed JSON" in str(malformed) and not is_transient(malformed)
    assert not is_transient(_sqlite_error(tmp_path, "SELECT * FROM no_such_table"))


def test_a_recurring_sqlite_error_is_handed_back_instead_of_holding_the_consumer(session_factory, tmp_path):
    malformed = _sqlite_error(tmp_path, "SELECT json('{')")
    calls = []

    def broken(_session, _m):
        calls.append(1)
        raise malformed

    dispatcher = Dispatcher(session_factory, {"propagate": broken}, attempts=2, backoff=Backoff(first=0.001))
    result = []
    worker = threading.Thread(target=lambda: result.append(dispatcher.deliver("propagate", message())))
    worker.start()
    worker.join(timeout=5)
    if worker.is_alive():
        dispatcher.stop.set()  # the old rule retried it forever: let the thread end
        worker.join()
    assert result == [Disposition.RETRY] and len(calls) == 2


def test_deliveries_that_arrive_together_are_handled_in_one_transaction_and_a_bad_one_fails_alone(
    session_factory,
):
    def handler(session, m):
        session.add(AuditLogEntry(action="test.effect", subject=m["message_id"], details={}))
        session.flush()
        if m["payload"]["declaration_id"].startswith("bad"):
            raise RuntimeError("poison")

    dispatcher = Dispatcher(session_factory, {"propagate": handler}, attempts=1, backoff=Backoff(first=0.001))
    good = [message() for _ in range(3)]
    bad_payload = {"declaration_id": "bad00000-0000-4000-8000-000000000000", "supersedes_id": None}
    poison = dump_message(str(uuid.uuid4()), "declaration.accepted", 1, bad_payload)
    bodies = [good[0], b"not json", good[1], poison, good[2], good[0]]
    dispositions = dispatcher.deliver_many("propagate", bodies)
    assert dispositions == [
        Disposition.ACK,
        Disposition.DEAD_LETTER,
        Disposition.ACK,
        Disposition.RETRY,
        Disposition.ACK,
        Disposition.ACK,  # the same message twice in one batch: handled once
    ]
    # The failed batch rolled back whole; each good message took effect exactly once.
    with session_factory() as session:
        effects = session.scalars(select(AuditLogEntry.subject)).all()
    assert sorted(effects) == sorted(json.loads(body)["message_id"] for body in good)
    assert count_rows(session_factory, ProcessedMessage) == 3


def test_a_clean_batch_commits_once_for_all_its_messages(session_factory):
    calls = []
    dispatcher = Dispatcher(session_factory, {"propagate": lambda s, m: calls.append(m["message_id"])})
    assert dispatcher.deliver_many("propagate", [message() for _ in range(5)]) == [Disposition.ACK] * 5
    assert len(calls) == 5 and count_rows(session_factory, ProcessedMessage) == 5


def test_the_propagate_handler_takes_a_batch_in_one_call_and_an_unknown_declaration_fails_alone(
    session_factory, settings, make_org, make_payload, submit
):
    yard = make_org()
    radar, hull = make_org(), make_org()
    declarations = [
        submit(yard, make_payload(yard.slug, part, components=[component(supplier.slug, f"{part}-1")]))
        for part, supplier in (("SHIP", radar), ("BOAT", hull))
    ]
    unknown = message()  # names a declaration that does not exist
    bodies = [
        message(declaration_id=declarations[0].id, supersedes_id=None),
        unknown,
        message(declaration_id=declarations[1].id, supersedes_id=None),
    ]
    dispatcher = Dispatcher(
        session_factory, build_handlers(settings), attempts=1, backoff=Backoff(first=0.001)
    )
    assert dispatcher.deliver_many("propagate", bodies) == [
        Disposition.ACK,
        Disposition.RETRY,
        Disposition.ACK,
    ]
    assert count_rows(session_factory, DisclosureRequest) == 2
    assert count_rows(session_factory, ProcessedMessage) == 2
    # A clean batch: both in one call, and a redelivery of them changes nothing.
    assert dispatcher.deliver_many("propagate", [bodies[0], bodies[2]]) == [Disposition.ACK] * 2
    assert count_rows(session_factory, DisclosureRequest) == 2


def test_describe_error_gives_a_reason_where_str_gives_none():
    # str() of pika's connection errors is empty: the log lines said "cannot connect to the broker: ".
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(pika.exceptions.AMQPConnectionError) as refused:
        pika.BlockingConnection(pika.URLParameters(f"amqp://guest:guest@127.0.0.1:{port}/%2F"))
    assert str(refused.value) == ""
    assert describe_error(refused.value) == "ConnectionRefusedError: [Errno 111] Connection refused"
    # SQLAlchemy's: the driver's error, on one line.
    error = sa_exc.OperationalError("SELECT 1", {}, Exception("connection failed\n\tIs the server running?"))
    assert describe_error(error) == "Exception: connection failed Is the server running?"
    assert describe_error(TimeoutError()) == "TimeoutError()"


def test_a_poison_message_is_one_line_per_delivery_and_an_error_naming_the_dlq_on_its_last(
    session_factory, caplog
):
    """Before: a traceback at ERROR for every try of every delivery (3 x 11), and no word of the DLQ."""

    def broken(_session, _message):
        raise LookupError("no such declaration")

    dispatcher = Dispatcher(
        session_factory,
        {"propagate": broken},
        attempts=3,
        backoff=Backoff(first=0.001),
        delivery_limit=DELIVERY_LIMIT,
        dead_letter_queues={"propagate": "t.propagate.declarations.dlq"},
    )
    body = message()
    message_id = json.loads(body)["message_id"]
    caplog.set_level(logging.INFO, logger="worker")

    def lines(redeliveries: int) -> list[logging.LogRecord]:
        caplog.clear()
        assert (
            dispatcher.deliver("propagate", body, DeliveryInfo(message_id, redeliveries)) is Disposition.RETRY
        )
        return caplog.records

    [first] = lines(0)
    assert first.levelno == logging.WARNING and first.exc_info is not None  # the traceback, once
    assert message_id in first.getMessage()
    assert f"delivery 1 of at most {DELIVERY_LIMIT + 1}" in first.getMessage()
    assert "LookupError: no such declaration" in first.getMessage()
    [again] = lines(4)
    assert again.levelno == logging.WARNING and again.exc_info is None
    assert f"delivery 5 of at most {DELIVERY_LIMIT + 1}" in again.getMessage()
    [last] = lines(DELIVERY_LIMIT)
    assert last.levelno == logging.ERROR and last.exc_info is None
    assert message_id in last.getMessage() and "t.propagate.declarations.dlq" in last.getMessage()
    # At DEBUG every try has its traceback instead.
    caplog.set_level(logging.DEBUG, logger="worker")
    records = lines(1)
    assert [r.levelno for r in records if r.exc_info] == [logging.DEBUG] * 3
    # Dead-lettered at once: one ERROR with the AMQP message id and the queue.
    caplog.clear()
    assert dispatcher.deliver("propagate", b"{not json", DeliveryInfo("amqp-id-7")) is Disposition.DEAD_LETTER
    [invalid] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert invalid.levelno == logging.ERROR
    assert "amqp-id-7" in invalid.getMessage() and "t.propagate.declarations.dlq" in invalid.getMessage()


def test_each_handled_delivery_gets_a_debug_line(session_factory, caplog):
    """Before, nothing was logged per event even at --log-level DEBUG."""
    dispatcher = Dispatcher(session_factory, {"propagate": lambda s, m: None})
    caplog.set_level(logging.DEBUG, logger="worker")
    body = message()
    message_id = json.loads(body)["message_id"]
    dispatcher.deliver("propagate", body)
    dispatcher.deliver("propagate", body)
    batch = [message(), message()]
    dispatcher.deliver_many("propagate", batch, [DeliveryInfo(redeliveries=2), DeliveryInfo()])
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert re.fullmatch(
        rf"propagate: {message_id} declaration\.accepted\.v1 processed in \d+\.\d ms \(delivery 1\)", lines[0]
    )
    assert re.fullmatch(
        rf"propagate: {message_id} declaration\.accepted\.v1 duplicate in \d+\.\d ms \(delivery 1\)", lines[1]
    )
    first = json.loads(batch[0])["message_id"]
    assert re.fullmatch(
        rf"propagate: {first} declaration\.accepted\.v1 processed in \d+\.\d ms \(delivery 3, batch of 2\)",
        lines[2],
    )
    assert len(lines) == 4
