"""GET /api/v1/notifications and the organisation's webhook."""

from __future__ import annotations

import hashlib
import hmac
import socket
from dataclasses import replace
from datetime import timedelta

import pytest

from tiertrace.db import utcnow
from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import (
    claim_due_deliveries,
    ensure_request_notification,
    record_delivery,
)
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization

#: What the names used below resolve to: no test asks the network's DNS.
NAMES = {
    "localhost": ["127.0.0.1", "::1"],
    "erp.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "intranet.example.org": ["10.1.2.3"],
    "split.example.org": ["93.184.215.14", "192.168.1.5"],
    "metadata.example.org": ["169.254.169.254"],
}


@pytest.fixture
def dns(monkeypatch):
    """socket.getaddrinfo answering from NAMES (and for IP literals); any other name does not resolve."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in NAMES:
            return [
                info for address in NAMES[host] for info in real_getaddrinfo(address, port, *args, **kwargs)
            ]
        try:
            return real_getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_new_incoming_request_becomes_a_notification_for_the_supplier_once_the_bus_ran(
    client, make_org, settings, session_factory
):
    from worker.embedded import start_embedded_bus

    oem, lumen = make_org("oem"), make_org("lumen")
    bus = start_embedded_bus(settings, session_factory)
    try:
        request = client.post(
            "/api/v1/requests", json={"supplier": "lumen", "part_number": "MMIC-7"}, headers=oem.headers
        ).get_json()
        bus.drain(30)
    finally:
        bus.stop()
    page = client.get("/api/v1/notifications", headers=lumen.headers)
    assert page.status_code == 200
    items = page.get_json()["items"]
    assert [(n["kind"], n["request_id"]) for n in items] == [("request.created", request["id"])]
    assert client.get("/api/v1/notifications", headers=oem.headers).get_json()["items"] == []
    assert client.get("/api/v1/notifications").status_code == 401


def test_a_webhook_is_registered_with_a_secret_shown_once_and_removed(client, make_org, dns):
    from tiertrace.disclosure.notifications import webhook_signature

    lumen = make_org("lumen")
    bad = client.put("/api/v1/organizations/me/webhook", json={"url": "ftp://x"}, headers=lumen.headers)
    assert bad.status_code == 422 and "url" in bad.get_json()["error"]["details"]
    done = client.put(
        "/api/v1/organizations/me/webhook",
        json={"url": "https://erp.example.org/hook"},
        headers=lumen.headers,
    )
    assert done.status_code == 200
    secret = done.get_json()["secret"]
    body = b'{"kind": "request.created"}'
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert webhook_signature(secret, body) in (expected, expected.removeprefix("sha256="))
    assert client.delete("/api/v1/organizations/me/webhook", headers=lumen.headers).status_code == 204


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.1/hook",
        "http://localhost/hook",
        "http://0.0.0.0/hook",
        "http://10.0.0.5/hook",
        "http://172.16.4.4/hook",
        "https://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[::1]:8080/hook",
        "http://[::]/hook",
        "http://[fe80::1]/hook",
        "http://[fd12:3456::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1 (more forms: test_webhook_addresses.py)
        "http://[2002:a00:5::1]/hook",  # 6to4 of 10.0.0.5
        "http://224.0.0.1/hook",
        "http://intranet.example.org/hook",
        "http://metadata.example.org/hook",
        "https://split.example.org/hook",  # every address counts, not just the first
        "https://nowhere.example.org/hook",  # does not resolve
    ],
)
def test_a_webhook_to_a_non_public_address_is_refused(client, make_org, dns, url):
    lumen = make_org("lumen")
    answer = client.put("/api/v1/organizations/me/webhook", json={"url": url}, headers=lumen.headers)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "invalid" and error["message"] == "webhooks go to public internet addresses only"
    assert "public" in error["details"]["url"]
    assert client.get("/api/v1/organizations/me", headers=lumen.headers).status_code == 200
    with client.application.extensions["tiertrace"].session_factory() as session:
        assert session.get(Organization, lumen.organization.id).webhook_url is None


def test_a_deployment_may_allow_webhooks_to_private_addresses(settings, session_factory, make_org, dns):
    from portal import create_app

    lumen = make_org("lumen")
    app = create_app(replace(settings, webhook_allow_private=True), session_factory=session_factory)
    answer = app.test_client().put(
        "/api/v1/organizations/me/webhook", json={"url": "http://10.0.0.5:8080/hook"}, headers=lumen.headers
    )
    assert answer.status_code == 200 and answer.get_json()["url"] == "http://10.0.0.5:8080/hook"


def _queue(session_factory, requester, supplier_slug, part_number):
    """A new request to the supplier and its queued webhook delivery; returns the notification id."""
    with session_factory() as session:
        requester = session.get(Organization, requester.organization.id)
        request = create_request(session, requester, supplier_slug=supplier_slug, part_number=part_number)
        notification, queued = ensure_request_notification(session, request.id, now=utcnow())
        session.commit()
        assert queued
        return notification.id


def test_removing_the_webhook_drops_the_deliveries_still_pending(client, make_org, session_factory, dns):
    oem, lumen = make_org("oem"), make_org("lumen")
    hook = {"url": "https://erp.example.org/hook"}
    assert client.put("/api/v1/organizations/me/webhook", json=hook, headers=lumen.headers).status_code == 200
    pending = {_queue(session_factory, oem, "lumen", part) for part in ("MMIC-7", "MMIC-8")}
    with session_factory() as session:
        [claimed] = claim_due_deliveries(session, now=utcnow(), limit=1)
        session.commit()

    assert client.delete("/api/v1/organizations/me/webhook", headers=lumen.headers).status_code == 204
    with session_factory() as session:
        # The POST that was in flight fails afterwards: not retried either.
        record_delivery(session, claimed.notification_id, ok=False, now=utcnow())
        session.commit()
    with session_factory() as session:
        for notification_id in pending:
            notification = session.get(Notification, notification_id)
            assert notification.next_attempt_at is None and notification.delivered_at is None
    # A webhook registered again is not sent the old notifications; they stay listed.
    assert client.put("/api/v1/organizations/me/webhook", json=hook, headers=lumen.headers).status_code == 200
    with session_factory() as session:
        assert claim_due_deliveries(session, now=utcnow() + timedelta(days=1)) == []
    assert len(client.get("/api/v1/notifications", headers=lumen.headers).get_json()["items"]) == 2
