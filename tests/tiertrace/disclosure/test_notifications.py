"""Notifications: listing, webhook signatures, and the delivery bookkeeping with capped backoff."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import (
    DELIVERY_LEASE,
    MAX_DELIVERY_ATTEMPTS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    claim_due_deliveries,
    ensure_request_notification,
    list_notifications,
    record_delivery,
    register_webhook,
    retry_delay,
    sign_webhook,
    verify_webhook_signature,
)
from tiertrace.disclosure.services import create_request
from tiertrace.errors import RuleViolationError
from tiertrace.organizations.models import Organization

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_the_signature_is_an_hmac_sha256_of_the_exact_body_bytes():
    body = b'{"id":"n-1","kind":"request.created"}'
    headers = sign_webhook("s3cret", body, notification_id="n-1", sent_at=NOW)
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers[TIMESTAMP_HEADER] == str(int(NOW.timestamp()))
    assert verify_webhook_signature("s3cret", body, headers[SIGNATURE_HEADER])
    assert not verify_webhook_signature("s3cret", body + b" ", headers[SIGNATURE_HEADER])
    assert not verify_webhook_signature("other", body, headers[SIGNATURE_HEADER])
    assert not verify_webhook_signature("s3cret", body, None)


def test_retries_back_off_exponentially_up_to_an_hour():
    delays = [retry_delay(n).total_seconds() for n in range(1, 12)]
    assert delays[:4] == [10, 20, 40, 80]
    assert delays == sorted(delays)
    assert max(delays) == 3600
    assert retry_delay(10_000) == timedelta(hours=1)


def test_a_webhook_url_must_be_http_and_gets_a_fresh_secret_each_time(session_factory, make_org):
    member = make_org("radar")
    with session_factory() as session:
        organization = session.get(Organization, member.organization.id)
        # allow_private: the address rules are tested with the API (tests/portal/test_notifications_api.py)
        first = register_webhook(session, organization, "https://hooks.example/tiertrace", allow_private=True)
        second = register_webhook(
            session, organization, "https://hooks.example/tiertrace", allow_private=True
        )
        assert first and second and first != second
        assert organization.webhook_secret == second
        with pytest.raises(RuleViolationError):
            register_webhook(session, organization, "ftp://hooks.example/")
        assert register_webhook(session, organization, None) is None
        assert organization.webhook_url is None and organization.webhook_secret is None


def _request_with_notification(session_factory, make_org, *, webhook: bool):
    oem, radar = make_org(), make_org()
    with session_factory() as session:
        if webhook:
            register_webhook(
                session,
                session.get(Organization, radar.organization.id),
                "http://127.0.0.1:9/hook",
                allow_private=True,
            )
        request = create_request(
            session,
            session.get(Organization, oem.organization.id),
            supplier_slug=radar.slug,
            part_number="TRM",
            now=NOW,
        )
        notification, queued = ensure_request_notification(session, request.id, now=NOW)
        session.commit()
    return request, notification, queued


def test_a_new_request_gets_one_notification_for_its_supplier_and_its_webhook_is_queued_once(
    session_factory, make_org
):
    request, notification, queued = _request_with_notification(session_factory, make_org, webhook=True)
    assert queued
    assert notification.request_id == request.id and notification.organization_id == request.supplier_id
    assert notification.data["part_number"] == "TRM"
    assert notification.next_attempt_at == NOW
    with session_factory() as session:
        again, queued_again = ensure_request_notification(session, request.id, now=NOW + timedelta(minutes=1))
        session.commit()
        assert again.id == notification.id and not queued_again
        assert session.query(Notification).count() == 1


def test_without_a_webhook_nothing_is_queued(session_factory, make_org):
    _, notification, queued = _request_with_notification(session_factory, make_org, webhook=False)
    assert not queued and notification.next_attempt_at is None


def test_a_claimed_delivery_is_leased_then_retried_after_a_backoff_and_given_up_at_the_limit(
    session_factory, make_org
):
    _, notification, _ = _request_with_notification(session_factory, make_org, webhook=True)
    with session_factory() as session:
        [delivery] = claim_due_deliveries(session, now=NOW)
        session.commit()
    assert delivery.attempt == 1 and delivery.url == "http://127.0.0.1:9/hook"
    with session_factory() as session:
        secret = session.get(Organization, notification.organization_id).webhook_secret
    assert verify_webhook_signature(secret, delivery.body, delivery.headers[SIGNATURE_HEADER])
    with session_factory() as session:
        assert claim_due_deliveries(session, now=NOW + DELIVERY_LEASE / 2) == []  # leased meanwhile
        failed = record_delivery(session, notification.id, ok=False, now=NOW)
        session.commit()
        assert failed.next_attempt_at == NOW + timedelta(seconds=10)
    with session_factory() as session:
        row = session.get(Notification, notification.id)
        row.delivery_attempts = MAX_DELIVERY_ATTEMPTS
        record_delivery(session, notification.id, ok=False, now=NOW)
        session.commit()
        assert row.next_attempt_at is None and row.delivered_at is None  # given up, still listed


def test_a_successful_delivery_is_recorded_and_not_sent_again(session_factory, make_org):
    _, notification, _ = _request_with_notification(session_factory, make_org, webhook=True)
    with session_factory() as session:
        claim_due_deliveries(session, now=NOW)
        record_delivery(session, notification.id, ok=True, now=NOW)
        session.commit()
    with session_factory() as session:
        assert session.get(Notification, notification.id).delivered_at == NOW
        assert claim_due_deliveries(session, now=NOW + timedelta(days=1)) == []


def test_notifications_are_listed_newest_first_a_page_at_a_time(session_factory, make_org):
    member, other = make_org("radar"), make_org("hull")
    with session_factory() as session:
        for i in range(5):
            session.add(
                Notification(
                    organization_id=member.organization.id,
                    kind="request.created",
                    data={"i": i},
                    created_at=NOW + timedelta(minutes=i),
                )
            )
        session.commit()
        organization = session.get(Organization, member.organization.id)
        seen, cursor = [], None
        while True:
            page = list_notifications(session, organization, cursor=cursor, limit=2)
            seen.extend(n.data["i"] for n in page.items)
            if page.next is None:
                break
            cursor = page.next
        assert seen == [4, 3, 2, 1, 0]
        assert list_notifications(session, session.get(Organization, other.organization.id)).items == []
        with pytest.raises(RuleViolationError):
            list_notifications(session, organization, cursor="not-a-cursor")
