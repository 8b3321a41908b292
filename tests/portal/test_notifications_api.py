"""GET /api/v1/notifications and the organisation's webhook."""

from __future__ import annotations

import hashlib
import hmac


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


def test_a_webhook_is_registered_with_a_secret_shown_once_and_removed(client, make_org):
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
