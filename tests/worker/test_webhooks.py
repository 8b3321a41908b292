"""Webhooks end to end on the embedded bus: a new request is POSTed, signed, to the supplier's URL."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import timedelta

import pytest
from bus_support import wait_for

from tiertrace.db import utcnow
from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import SIGNATURE_HEADER, register_webhook, verify_webhook_signature
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from worker.embedded import start_embedded_bus


@pytest.fixture
def receiver():
    """An HTTP server on the loopback that records what is POSTed and answers `status`."""
    received: list[tuple[dict[str, str], bytes]] = []
    state = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received, state
    server.shutdown()
    server.server_close()


def _ask(session_factory, requester, supplier_slug):
    with session_factory() as session:
        request = create_request(
            session,
            session.get(Organization, requester.organization.id),
            supplier_slug=supplier_slug,
            part_number="TRM",
        )
        session.commit()
    return request


def test_a_new_request_is_posted_to_the_suppliers_webhook_signed_with_its_secret(
    settings, session_factory, make_org, receiver
):
    url, received, _ = receiver
    oem, radar = make_org("oem"), make_org("radar")
    with session_factory() as session:
        secret = register_webhook(session, session.get(Organization, radar.organization.id), url)
        session.commit()
    bus = start_embedded_bus(settings, session_factory, poll_interval=0.2)
    try:
        request = _ask(session_factory, oem, "radar")
        bus.drain(timeout=30)
        wait_for(lambda: received)
    finally:
        bus.stop()
    [(headers, body)] = received
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
    url, received, state = receiver
    state["status"] = 503
    oem, radar, hull = make_org("oem"), make_org("radar"), make_org("hull")
    with session_factory() as session:
        register_webhook(session, session.get(Organization, radar.organization.id), url)
        session.commit()
    bus = start_embedded_bus(settings, session_factory, poll_interval=0.2)
    try:
        _ask(session_factory, oem, "radar")
        wait_for(lambda: received)
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
