"""`ensure_request_notifications`: several requests at once, as if one by one, in one query."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import event, select

from tiertrace import db
from tiertrace.disclosure import notifications
from tiertrace.disclosure.models import Notification
from tiertrace.disclosure.notifications import (
    ensure_request_notification,
    ensure_request_notifications,
    register_webhook,
)
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _requests(session, make_org, *suppliers_with_webhook: bool):
    """One request from a new OEM to a new supplier per argument; a True supplier has a webhook."""
    # Every organisation first: make_org commits in a session of its own.
    members = [make_org() for _ in range(len(suppliers_with_webhook) + 1)]
    oem, *suppliers = (session.get(Organization, m.organization.id) for m in members)
    requests = []
    for supplier, with_webhook in zip(suppliers, suppliers_with_webhook, strict=True):
        if with_webhook:
            register_webhook(session, supplier, "http://127.0.0.1:9/hook", allow_private=True)
        requests.append(create_request(session, oem, supplier_slug=supplier.slug, part_number="TRM", now=NOW))
    session.commit()
    return requests


def _selects(engine):
    """The SELECT statements run while the returned list is being recorded into."""
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    return statements, lambda: event.remove(engine, "before_cursor_execute", record)


def test_several_requests_at_once_are_ensured_as_one_by_one_with_one_query(session, make_org, engine):
    fresh_hook, fresh_plain, told_hook, queued_hook = _requests(session, make_org, True, False, True, True)
    # Told without a webhook POST (as propagation tells), and one whose POST is queued already.
    told, _ = ensure_request_notification(session, told_hook.id, now=NOW)
    told.next_attempt_at = None
    queued, _ = ensure_request_notification(session, queued_hook.id, now=NOW)
    session.commit()
    ids = [fresh_hook.id, UNKNOWN, fresh_plain.id, told_hook.id, queued_hook.id, fresh_hook.id]

    statements, stop = _selects(engine)
    try:
        ensured = ensure_request_notifications(session, ids, now=NOW)
    finally:
        stop()

    assert len(statements) == 1
    assert {i: queued_now for i, (_, queued_now) in ensured.items()} == {
        fresh_hook.id: True,
        fresh_plain.id: False,
        told_hook.id: True,
        queued_hook.id: False,
    }
    assert ensured[told_hook.id][0].id == told.id and ensured[queued_hook.id][0].id == queued.id
    suppliers = {r.id: r.supplier_id for r in (fresh_hook, fresh_plain, told_hook, queued_hook)}
    assert {i: (n.request_id, n.organization_id) for i, (n, _) in ensured.items()} == {
        i: (i, supplier_id) for i, supplier_id in suppliers.items()
    }
    session.commit()
    assert session.scalars(select(Notification.request_id)).all().count(fresh_hook.id) == 1
    # A second pass finds them all and queues nothing again.
    again = ensure_request_notifications(session, ids, now=NOW)
    assert {i: n.id for i, (n, _) in again.items()} == {i: n.id for i, (n, _) in ensured.items()}
    assert not any(queued_now for _, queued_now in again.values())


def test_no_requests_is_no_query_and_an_unknown_one_is_none(session, engine):
    statements, stop = _selects(engine)
    try:
        assert ensure_request_notifications(session, [], now=NOW) == {}
    finally:
        stop()
    assert statements == []
    assert ensure_request_notification(session, UNKNOWN, now=NOW) == (None, False)


def test_more_requests_than_one_chunk_are_all_ensured(session, make_org, monkeypatch):
    monkeypatch.setattr(notifications, "chunks", functools.partial(db.chunks, size=2))
    requests = _requests(session, make_org, True, False, True, False, True)

    ensured = ensure_request_notifications(session, [r.id for r in requests], now=NOW)

    assert {i: queued_now for i, (_, queued_now) in ensured.items()} == {
        r.id: n % 2 == 0 for n, r in enumerate(requests)
    }
