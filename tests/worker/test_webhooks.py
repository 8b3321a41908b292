"""Webhooks: a new request is POSTed, signed, to the supplier's URL; only to public addresses, with no
redirect followed; a receiver that hangs, or trickles its answer, delays nobody else past the POST's
deadline, nor a stop; failures and giving up are logged."""

from __future__ import annotations

import dataclasses
import http.server
import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import timedelta
from functools import partial

import pytest
from bus_support import wait_for

from tiertrace.db import utcnow
from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import (
    MAX_DELIVERY_ATTEMPTS,
    SIGNATURE_HEADER,
    ensure_request_notification,
    register_webhook,
    verify_webhook_signature,
)
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from worker.embedded import start_embedded_bus
from worker.webhooks import RECORD_GRACE, DeliveryError, WebhookSender, post_json

#: The test receivers listen on the loopback, which webhooks may only reach with the deployment's opt-in.
post_to_loopback = partial(post_json, allow_private=True)


class Receiver:
    """An HTTP server on the loopback that records what it is sent and answers `status` (with
    `location`), or answers nothing until the test ends when `hang` is set."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.location: str | None = None
        self.hang = False
        self.released = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(("POST", dict(self.headers), body))
                if receiver.hang:
                    receiver.released.wait(30)
                    return
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def do_GET(self):
                receiver.received.append(("GET", dict(self.headers), b""))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def make_receiver():
    receivers: list[Receiver] = []

    def make() -> Receiver:
        receivers.append(Receiver())
        return receivers[-1]

    yield make
    for receiver in receivers:
        receiver.close()


@pytest.fixture
def receiver(make_receiver):
    return make_receiver()


def _register(session_factory, member, url):
    with session_factory() as session:
        secret = register_webhook(
            session, session.get(Organization, member.organization.id), url, allow_private=True
        )
        session.commit()
    return secret


def _ask(session_factory, requester, supplier_slug, part_number="TRM"):
    with session_factory() as session:
        request = create_request(
            session,
            session.get(Organization, requester.organization.id),
            supplier_slug=supplier_slug,
            part_number=part_number,
        )
        session.commit()
    return request


def _queue(session_factory, requester, supplier, *, now, attempts=0):
    """A new request to `supplier` and its queued webhook delivery; returns the notification id."""
    request = _ask(session_factory, requester, supplier.slug, f"TRM-{uuid.uuid4().hex[:8]}")
    with session_factory() as session:
        notification, queued = ensure_request_notification(session, request.id, now=now)
        assert queued
        notification.delivery_attempts = attempts
        session.commit()
        return notification.id


def test_a_new_request_is_posted_to_the_suppliers_webhook_signed_with_its_secret(
    settings, session_factory, make_org, receiver
):
    oem, radar = make_org("oem"), make_org("radar")
    secret = _register(session_factory, radar, receiver.url)
    # The deployment's opt-in (TIERTRACE_WEBHOOK_ALLOW_PRIVATE) reaches the bus's sender through the settings.
    allowing = dataclasses.replace(settings, webhook_allow_private=True)
    bus = start_embedded_bus(allowing, session_factory, poll_interval=0.2)
    try:
        request = _ask(session_factory, oem, "radar")
        bus.drain(timeout=30)
        wait_for(lambda: receiver.received)
    finally:
        bus.stop()
    [(_, headers, body)] = receiver.received
    assert verify_webhook_signature(secret, body, headers[SIGNATURE_HEADER])
    document = json.loads(body)
    assert document["kind"] == "request.created" and document["request_id"] == request.id
    assert document["organization"] == "radar" and document["data"]["requester"] == "oem"
    with session_factory() as session:
        [notification] = session.query(Notification).all()
        assert notification.delivered_at is not None and notification.delivery_attempts == 1


def test_a_failing_receiver_is_retried_later_and_never_holds_the_bus(
    settings, session_factory, make_org, receiver
):
    receiver.status = 503
    oem, radar, hull = make_org("oem"), make_org("radar"), make_org("hull")
    _register(session_factory, radar, receiver.url)
    bus = start_embedded_bus(settings, session_factory, poll_interval=0.2, post=post_to_loopback)
    try:
        _ask(session_factory, oem, "radar")
        wait_for(lambda: receiver.received)
        _ask(session_factory, oem, "hull")  # the bus goes on meanwhile
        bus.drain(timeout=30)
    finally:
        bus.stop()
    with session_factory() as session:
        failed = (
            session.query(Notification).filter(Notification.organization_id == radar.organization.id).one()
        )
        assert failed.delivered_at is None and failed.delivery_attempts == 1
        assert failed.next_attempt_at > utcnow() + timedelta(seconds=5)  # backed off, not hammered
        assert (
            session.query(Notification).filter(Notification.organization_id == hull.organization.id).count()
            == 1
        )


def test_a_post_goes_only_to_public_addresses_checked_when_connecting(receiver, monkeypatch):
    """A name that passed the check at registration may resolve to an internal address later (DNS
    rebinding): the sender checks what it connects to, and needs the deployment's opt-in for it."""
    real_getaddrinfo = socket.getaddrinfo

    def rebound(host, port, *args, **kwargs):
        return real_getaddrinfo("127.0.0.1" if host == "hooks.rebound.test" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    for url in (f"http://hooks.rebound.test:{receiver.port}/hook", receiver.url):
        with pytest.raises(DeliveryError, match="public"):
            post_json(url, b"{}", {"Content-Type": "application/json"}, 5.0)
    assert receiver.received == []
    post_json(f"http://hooks.rebound.test:{receiver.port}/hook", b"{}", {}, 5.0, allow_private=True)
    assert [method for method, _, _ in receiver.received] == ["POST"]


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(make_receiver):
    hook, internal = make_receiver(), make_receiver()
    hook.status, hook.location = 302, internal.url
    with pytest.raises(DeliveryError, match="302"):
        post_to_loopback(hook.url, b"{}", {"Content-Type": "application/json"}, 5.0)
    assert len(hook.received) == 1 and internal.received == []


def test_a_receiver_that_never_answers_does_not_delay_another_organisations_webhook(
    session_factory, make_org, make_receiver
):
    hanging, quick = make_receiver(), make_receiver()
    hanging.hang = True
    oem, slow, fast = make_org("oem"), make_org("slow"), make_org("fast")
    _register(session_factory, slow, hanging.url)
    _register(session_factory, fast, quick.url)
    for _ in range(3):  # older than fast's: claimed first
        _queue(session_factory, oem, slow, now=utcnow() - timedelta(minutes=1))
    _queue(session_factory, oem, fast, now=utcnow())
    sender = WebhookSender(session_factory, allow_private=True, poll_interval=0.2, timeout=5.0)
    started = time.monotonic()
    sender.start()
    try:
        wait_for(lambda: quick.received, timeout=30)
        waited = time.monotonic() - started
        wait_for(lambda: hanging.received)
        time.sleep(0.5)
        in_flight_to_hanging = len(hanging.received)
    finally:
        hanging.released.set()
        sender.stop()
    assert waited < 3.0  # one POST to the hanging receiver alone takes the 5 s timeout
    assert in_flight_to_hanging == 1  # one POST in flight per URL: the others wait their turn


def test_a_failed_post_is_logged_with_its_delivery_and_attempt_and_giving_up_too(
    session_factory, make_org, receiver, caplog
):
    receiver.status = 503
    oem, radar = make_org("oem"), make_org("radar")
    url = f"http://radar:pa55word@127.0.0.1:{receiver.port}/hook?token=t0ken"
    _register(session_factory, radar, url)
    # The last try: it fails, and the delivery is given up.
    notification_id = _queue(session_factory, oem, radar, now=utcnow(), attempts=MAX_DELIVERY_ATTEMPTS - 1)
    sender = WebhookSender(session_factory, allow_private=True, poll_interval=0.2)
    caplog.set_level(logging.INFO)
    sender.start()
    try:
        wait_for(lambda: "given up" in caplog.text)
    finally:
        sender.stop()
    failed = next(r.getMessage() for r in caplog.records if "failed" in r.getMessage())
    assert (
        notification_id in failed and f"attempt {MAX_DELIVERY_ATTEMPTS} of {MAX_DELIVERY_ATTEMPTS}" in failed
    )
    assert f"http://127.0.0.1:{receiver.port}" in failed and "503" in failed
    gave_up = next(r.getMessage() for r in caplog.records if "given up" in r.getMessage())
    assert notification_id in gave_up and "radar" in gave_up and str(MAX_DELIVERY_ATTEMPTS) in gave_up
    assert "pa55word" not in caplog.text and "t0ken" not in caplog.text
    with session_factory() as session:
        notification = session.get(Notification, notification_id)
        assert notification.next_attempt_at is None and notification.delivered_at is None


class Trickler:
    """A receiver on the loopback that reads the request, then sends the first `at_once` bytes of a 200
    answer whose header line never ends, and the rest one byte every `interval` seconds until the test
    ends."""

    ANSWER = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000

    def __init__(self, at_once: int = 0, interval: float = 0.3) -> None:
        self.at_once, self.interval = at_once, interval
        self.accepted: list[float] = []
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.settimeout(2)
                connection.recv(65536)
                connection.sendall(self.ANSWER[: self.at_once])
                for byte in self.ANSWER[self.at_once :]:
                    if self.closed.wait(self.interval):
                        return
                    connection.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


@pytest.fixture
def make_trickler():
    tricklers: list[Trickler] = []

    def make(**options) -> Trickler:
        tricklers.append(Trickler(**options))
        return tricklers[-1]

    yield make
    for trickler in tricklers:
        trickler.close()


@pytest.mark.parametrize("at_once", [0, len(b"HTTP/1.1 200 OK\r\n")], ids=["status-line", "headers"])
def test_a_post_whose_answer_trickles_in_fails_at_its_deadline(make_trickler, at_once):
    """The timeout is a deadline for the whole POST, not for each read: a byte every 0.3 s, well within a
    1 s timeout per read, does not keep the POST going."""
    trickler = make_trickler(at_once=at_once)
    outcome: list[BaseException | None] = []

    def post() -> None:
        try:
            post_to_loopback(trickler.url, b"{}", {"Content-Type": "application/json"}, 1.0)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    thread.join(3.0)
    took = time.monotonic() - started
    assert not thread.is_alive(), "the POST went on past its 1 s deadline"
    [error] = outcome
    assert isinstance(error, DeliveryError) and "no complete answer within 1 s" in str(error)
    assert 0.9 < took < 1.5


def test_a_receiver_that_trickles_its_answer_frees_the_slot_for_another_organisation(
    session_factory, make_org, make_trickler, receiver
):
    """With a single POST slot, the trickling receiver's try ends at the 1 s deadline, counts as a failed
    try (backed off), and the other organisation's delivery is made meanwhile."""
    trickler = make_trickler()
    oem, slow, fast = make_org("oem"), make_org("slow"), make_org("fast")
    _register(session_factory, slow, trickler.url)
    _register(session_factory, fast, receiver.url)
    slow_id = _queue(session_factory, oem, slow, now=utcnow() - timedelta(minutes=1))  # claimed first
    _queue(session_factory, oem, fast, now=utcnow())
    sender = WebhookSender(session_factory, allow_private=True, poll_interval=0.1, timeout=1.0, concurrency=1)
    started = time.monotonic()
    sender.start()
    try:
        wait_for(lambda: trickler.accepted, timeout=3)
        wait_for(lambda: receiver.received, timeout=4)
        delivered_after = time.monotonic() - started
    finally:
        sender.stop()
    assert delivered_after < 2.5  # the 1 s deadline, then the next pass
    with session_factory() as session:
        failed = session.get(Notification, slow_id)
        assert failed.delivered_at is None and failed.delivery_attempts == 1
        assert failed.next_attempt_at > utcnow() + timedelta(seconds=5)  # retried with the usual backoff


def test_a_stop_while_a_post_trickles_returns_by_the_posts_deadline(session_factory, make_org, make_trickler):
    trickler = make_trickler()
    oem, slow = make_org("oem"), make_org("slow")
    _register(session_factory, slow, trickler.url)
    notification_id = _queue(session_factory, oem, slow, now=utcnow())
    sender = WebhookSender(session_factory, allow_private=True, poll_interval=0.1, timeout=1.0)
    sender.start()
    try:
        wait_for(lambda: trickler.accepted, timeout=3)
    finally:
        started = time.monotonic()
        sender.stop()
        took = time.monotonic() - started
    assert took < 1.0 + 0.5  # the POST ended at its deadline and its outcome was recorded
    assert not [t for t in threading.enumerate() if t.name.startswith("bus-webhook-post")]
    with session_factory() as session:
        assert session.get(Notification, notification_id).delivery_attempts == 1


def test_a_post_stuck_past_every_deadline_keeps_neither_the_stop_nor_the_process(
    database_url, session_factory, make_org
):
    """Something the deadline cannot cut short (a name lookup that hangs, a database that does not
    answer): the stop gives up on it after the deadline and RECORD_GRACE, and the process still exits."""
    oem, slow = make_org("oem"), make_org("slow")
    _register(session_factory, slow, "http://hooks.example.org/hook")
    _queue(session_factory, oem, slow, now=utcnow())
    script = textwrap.dedent(
        """
        import sys, threading, time
        from tiertrace.db import make_engine, make_session_factory
        from worker.webhooks import WebhookSender

        entered = threading.Event()

        def stuck(url, body, headers, timeout):
            entered.set()
            threading.Event().wait()  # never returns

        sender = WebhookSender(
            make_session_factory(make_engine(sys.argv[1])), post=stuck, poll_interval=0.1, timeout=0.2
        )
        sender.start()
        assert entered.wait(10), "the POST did not start"
        started = time.monotonic()
        sender.stop()
        print(f"stopped after {time.monotonic() - started:.2f}", flush=True)
        """
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", script, database_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the process did not exit after its stop; it printed {out!r}")
    assert process.returncode == 0, err
    stopped_after = float(out.split()[-1])
    assert 0.2 + RECORD_GRACE - 0.1 < stopped_after < 0.2 + RECORD_GRACE + 0.5
    assert time.monotonic() - started < 10
