"""A company's notifications in the web: the page (newest first, paged, each linking to its request) and
the menu's count of the last 7 days."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from web_helpers import NEXT_PAGE, REQUEST_LINK, log_in, walk

from tiertrace.db import utcnow
from tiertrace.disclosure.notifications import ensure_request_notification
from tiertrace.disclosure.overdue import run_overdue_sweep
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from tiertrace.pagination import PAGE_SIZE

_COUNT = re.compile(r'<span class="count">([^<]+)<span class="visually-hidden"> in the last 7 days</span>')


@pytest.fixture
def world(make_org):
    return {
        "supplier": make_org("heilong", name="Heilong Graphite Anode"),
        "requester": make_org("silesia", name="Silesia Cell Works"),
    }


def ask(session_factory, world, parts, *, asked_at=None, due_date=None):
    """The requester asks the supplier about each of `parts`, and the supplier is notified of each, as
    the bus's notify consumer does; returns the request ids in the order asked."""
    now = asked_at or utcnow()
    ids = []
    with session_factory() as session:
        requester = session.get(Organization, world["requester"].organization.id)
        for part in parts:
            item = create_request(
                session, requester, supplier_slug="heilong", part_number=part, due_date=due_date, now=now
            )
            ensure_request_notification(session, item.id, now=now)
            ids.append(item.id)
        session.commit()
    return ids


def menu_count(client, path="/inbox"):
    match = _COUNT.search(client.get(path).get_data(as_text=True))
    return match.group(1) if match else None


def test_a_supplier_sees_a_new_request_and_the_menu_counts_it(client, world, signed_in, session_factory):
    (request_id,) = ask(session_factory, world, ["HGA-SG-18"])
    signed_in(world["supplier"])
    assert menu_count(client) == "1"
    page = client.get("/notifications").get_data(as_text=True)
    assert "<strong>New request</strong> from Silesia Cell Works for " in page
    assert f'<a href="/requests/{request_id}">HGA-SG-18</a>' in page
    assert "1 in the last 7 days. The newest first, 100 a page." in page
    assert client.get(f"/requests/{request_id}").status_code == 200


def test_the_requester_is_told_its_supplier_is_overdue_and_escalated(
    client, world, signed_in, session_factory, settings
):
    asked = utcnow() - timedelta(days=settings.escalation_grace_days + 20)
    due = asked.date() + timedelta(days=5)
    (request_id,) = ask(session_factory, world, ["HGA-SG-18"], asked_at=asked, due_date=due)
    with session_factory() as session:
        result = run_overdue_sweep(session, utcnow(), settings)
        session.commit()
    assert result.escalated == [request_id]

    signed_in(world["requester"])
    assert menu_count(client) == "1"
    page = client.get("/notifications").get_data(as_text=True)
    assert (
        "<strong>Escalated</strong>: Heilong Graphite Anode has not answered your request for "
        f'<a href="/requests/{request_id}">HGA-SG-18</a>; it is overdue'
    ) in page
    assert f'<time datetime="{due.isoformat()}">' in page
    assert "New request" not in page and "Reminder" not in page  # the supplier's, not the requester's
    request_page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert ">overdue</span>" in request_page


def test_the_supplier_is_reminded_of_its_overdue_request(client, world, signed_in, session_factory, settings):
    asked = utcnow() - timedelta(days=30)
    (request_id,) = ask(session_factory, world, ["HGA-SG-18"], asked_at=asked, due_date=asked.date())
    with session_factory() as session:
        run_overdue_sweep(session, utcnow(), settings)
        session.commit()
    signed_in(world["supplier"])
    page = client.get("/notifications").get_data(as_text=True)
    # Newest first: the reminder (now), then the new request (30 days ago), which the menu does not count.
    assert page.index("<strong>Reminder</strong>: the request from Silesia Cell Works") < page.index(
        "<strong>New request</strong>"
    )
    assert REQUEST_LINK.findall(page) == [request_id, request_id]
    assert menu_count(client) == "1"


def test_the_menu_counts_only_the_last_7_days_and_caps_the_figure(client, world, signed_in, session_factory):
    signed_in(world["supplier"])
    assert menu_count(client) is None  # nothing at all: no badge
    ask(session_factory, world, ["OLD-1", "OLD-2"], asked_at=utcnow() - timedelta(days=7, minutes=1))
    assert menu_count(client) is None
    assert "None in the last 7 days." in client.get("/notifications").get_data(as_text=True)
    ask(session_factory, world, [f"NEW-{n}" for n in range(99)], asked_at=utcnow() - timedelta(days=6))
    assert menu_count(client) == "99"
    ask(session_factory, world, ["NEW-99"])
    assert menu_count(client) == "99+"
    assert menu_count(client, "/notifications") == "99+"


def test_every_notification_is_on_exactly_one_page_newest_first(client, world, signed_in, session_factory):
    start = utcnow() - timedelta(days=3)
    ids = []
    for number in range(PAGE_SIZE * 2 + 5):
        ids += ask(session_factory, world, [f"P-{number}"], asked_at=start + timedelta(minutes=number))
    signed_in(world["supplier"])
    pages = walk(client, "/notifications")
    assert [len(page) for page in pages] == [PAGE_SIZE, PAGE_SIZE, 5]
    assert [request_id for page in pages for request_id in page] == ids[::-1]
    second = html.unescape(NEXT_PAGE.search(client.get("/notifications").get_data(as_text=True)).group(1))
    assert '<a href="/notifications">← First page</a>' in client.get(second).get_data(as_text=True)


def test_notifications_are_the_organisations_own_and_for_companies_only(
    app, client, world, signed_in, session_factory, make_org, make_person
):
    ask(session_factory, world, ["HGA-SG-18"])
    signed_in(make_org("bystander"))
    page = client.get("/notifications").get_data(as_text=True)
    assert "No notifications yet." in page and "HGA-SG-18" not in page
    assert menu_count(client) is None
    ministry = app.test_client()
    assert log_in(ministry, make_person(make_org("ministry", kind="authority"))).status_code == 302
    assert ministry.get("/notifications").status_code == 404
    assert "/notifications" not in ministry.get("/audit").get_data(as_text=True)


def test_a_broken_page_link_of_the_notifications_says_so(client, world, signed_in):
    signed_in(world["supplier"])
    answer = client.get("/notifications?cursor=not-a-cursor")
    assert answer.status_code == 400
    assert "This link to a page of the list is broken or out of date" in answer.get_data(as_text=True)
