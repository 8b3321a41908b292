"""The settings page's webhook section: set (secret shown once), refused addresses, remove; companies only."""

from __future__ import annotations

import re
import socket

import pytest
from web_helpers import csrf_of, field_error

from tiertrace.db import utcnow
from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import ensure_request_notification
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization

#: A public IPv4 literal: registering it needs no DNS lookup.
PUBLIC_HOOK = "https://93.184.216.34/hook"
_SECRET = re.compile(r'<code class="secret" id="new-webhook-secret">(whsec_[A-Za-z0-9_-]+)</code>')


@pytest.fixture
def no_dns(monkeypatch):
    """socket.getaddrinfo answering for IP literals only: every name is unresolvable, nobody asks the DNS."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            return real_getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _stored_url(client, member):
    with client.application.extensions["tiertrace"].session_factory() as session:
        return session.get(Organization, member.organization.id).webhook_url


def _queue(client, requester, supplier_slug):
    """A request to the supplier with its webhook delivery queued; returns the notification id."""
    with client.application.extensions["tiertrace"].session_factory() as session:
        requester = session.get(Organization, requester.organization.id)
        request = create_request(session, requester, supplier_slug=supplier_slug, part_number="MMIC-7")
        notification, queued = ensure_request_notification(session, request.id, now=utcnow())
        session.commit()
        assert queued
        return notification.id


def test_a_webhook_set_on_the_settings_page_shows_its_secret_once_and_its_url(
    client, make_org, signed_in, no_dns
):
    lumen = make_org("lumen")
    signed_in(lumen)
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="webhook-title"' in page and "No webhook is set" in page
    token = csrf_of(page)

    answer = client.post("/settings/webhook", data={"webhook_url": PUBLIC_HOOK, "csrf_token": token})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    secret = _SECRET.search(html).group(1)
    assert "Deliveries still pending now go to this URL" in html
    assert _stored_url(client, lumen) == PUBLIC_HOOK
    with client.application.extensions["tiertrace"].session_factory() as session:
        assert session.get(Organization, lumen.organization.id).webhook_secret == secret

    again = client.get("/settings").get_data(as_text=True)
    assert secret not in again  # never shown again
    assert f'<code class="wrap-anywhere" id="webhook-url">{PUBLIC_HOOK}</code>' in again
    assert "No webhook is set" not in again

    # Replacing it makes a new secret, shown once too.
    replaced = client.post(
        "/settings/webhook", data={"webhook_url": "https://93.184.216.34/other", "csrf_token": token}
    ).get_data(as_text=True)
    assert _SECRET.search(replaced).group(1) != secret
    assert _stored_url(client, lumen) == "https://93.184.216.34/other"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://127.0.0.1:8080/hook",
            "127.0.0.1 is not a public internet address: webhooks go to public internet addresses only "
            "(not to loopback, private or link-local ones)",
        ),
        (
            "https://nowhere.example.org/hook",
            "nowhere.example.org does not resolve, or not to public internet addresses only: webhooks go "
            "to public internet addresses only (a new name works once its DNS record exists)",
        ),
        (
            "ftp://erp.example.org/hook",
            "Enter a web address that starts with https:// or http://, without spaces, "
            "at most 500 characters",
        ),
        ("", "Enter the address of your webhook, starting with https://"),
    ],
)
def test_a_refused_webhook_url_is_explained_next_to_the_field_and_nothing_changes(
    client, make_org, signed_in, no_dns, url, expected
):
    lumen = make_org("lumen")
    signed_in(lumen)
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    assert (
        client.post("/settings/webhook", data={"webhook_url": PUBLIC_HOOK, "csrf_token": token}).status_code
        == 200
    )

    answer = client.post("/settings/webhook", data={"webhook_url": url, "csrf_token": token})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert field_error(html, "webhook_url") == expected
    assert 'aria-invalid="true"' in html and "whsec_" not in html
    assert ">Webhook URL: " in html  # the summary at the top names the field as its label does
    assert f'value="{url}"' in html  # what was typed stays in the field
    assert _stored_url(client, lumen) == PUBLIC_HOOK  # the webhook in place is kept


def test_private_addresses_are_accepted_where_the_deployment_allows_them(
    settings, session_factory, make_org, make_person
):
    from dataclasses import replace

    from web_helpers import log_in

    from portal import create_app

    lumen = make_org("lumen")
    app = create_app(replace(settings, webhook_allow_private=True), session_factory=session_factory)
    app.config["TESTING"] = True
    client = app.test_client()
    assert log_in(client, make_person(lumen)).status_code == 302
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    answer = client.post(
        "/settings/webhook", data={"webhook_url": "http://10.0.0.5:8080/hook", "csrf_token": token}
    )
    assert answer.status_code == 200 and _SECRET.search(answer.get_data(as_text=True))
    assert _stored_url(client, lumen) == "http://10.0.0.5:8080/hook"


def test_the_webhook_is_removed_from_the_settings_page_and_pending_deliveries_dropped(
    client, make_org, signed_in
):
    oem, lumen = make_org("oem"), make_org("lumen")
    signed_in(lumen)
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    assert (
        client.post("/settings/webhook", data={"webhook_url": PUBLIC_HOOK, "csrf_token": token}).status_code
        == 200
    )
    pending = _queue(client, oem, "lumen")
    assert "Remove webhook" in client.get("/settings").get_data(as_text=True)

    removed = client.post("/settings/webhook/remove", data={"csrf_token": token})
    assert removed.status_code == 302 and removed.headers["Location"].endswith("/settings")
    page = client.get("/settings").get_data(as_text=True)
    assert "The webhook is removed; deliveries still pending are dropped" in page
    assert "No webhook is set" in page and "Remove webhook" not in page
    assert _stored_url(client, lumen) is None
    with client.application.extensions["tiertrace"].session_factory() as session:
        notification = session.get(Notification, pending)
        assert notification.next_attempt_at is None and notification.delivered_at is None


@pytest.mark.parametrize("kind", ["authority", "operator"])
def test_organisations_without_incoming_requests_neither_see_nor_post_the_webhook_section(
    app, client, make_org, make_person, signed_in, kind
):
    from web_helpers import log_in

    lumen, ministry = make_org("lumen"), make_org("ministry", kind=kind)
    company = app.test_client()  # a company's person on the same portal, for contrast
    assert log_in(company, make_person(lumen)).status_code == 302
    assert 'id="webhook-title"' in company.get("/settings").get_data(as_text=True)

    signed_in(ministry)
    page = client.get("/settings").get_data(as_text=True)
    assert 'id="tokens-title"' in page and "webhook" not in page.lower()
    token = csrf_of(page)
    refused = client.post("/settings/webhook", data={"webhook_url": PUBLIC_HOOK, "csrf_token": token})
    assert refused.status_code == 404
    assert "There is no such page, or it is not yours to see." in refused.get_data(as_text=True)
    assert client.post("/settings/webhook/remove", data={"csrf_token": token}).status_code == 404
    assert _stored_url(client, ministry) is None


def test_the_webhook_forms_need_the_csrf_token(client, make_org, signed_in):
    lumen = make_org("lumen")
    signed_in(lumen)
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    for data in ({"webhook_url": PUBLIC_HOOK}, {"webhook_url": PUBLIC_HOOK, "csrf_token": "forged"}):
        assert client.post("/settings/webhook", data=data).status_code == 400
    assert _stored_url(client, lumen) is None

    assert (
        client.post("/settings/webhook", data={"webhook_url": PUBLIC_HOOK, "csrf_token": token}).status_code
        == 200
    )
    page = client.get("/settings").get_data(as_text=True)
    for action in ("/settings/webhook", "/settings/webhook/remove"):  # both forms carry the page's token
        form = re.search(rf'<form method="post" action="{action}"[^>]*>(.*?)</form>', page, re.S).group(1)
        assert f'name="csrf_token" value="{token}"' in form
    assert client.post("/settings/webhook/remove").status_code == 400
    assert client.post("/settings/webhook/remove", data={"csrf_token": "forged"}).status_code == 400
    assert _stored_url(client, lumen) == PUBLIC_HOOK
