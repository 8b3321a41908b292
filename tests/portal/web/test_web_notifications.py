"""A company's notifications in the web: the page (newest first, paged, each linking to its request, those
new to the person marked) and the menu's count of what is new to the person, which opening the page clears."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import event
from web_helpers import NEXT_PAGE, REQUEST_LINK, log_in, walk

import portal.web.notifications
from tiertrace.db import utcnow
from tiertrace.disclosure.notifications import ensure_request_notification, list_notifications
from tiertrace.disclosure.overdue import run_overdue_sweep
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from tiertrace.pagination import PAGE_SIZE

_COUNT = re.compile(r'<span class="count">([^<]+)<span class="visually-hidden"> new</span>')
NEW_BADGE = '<span class="badge badge-new">New</span>'
#: The request link of each notification marked "New" on a page.
NEW_LINK = re.compile(NEW_BADGE + r' <strong>[^<]+</strong>[^<]*<a href="/requests/([0-9a-f-]{36})"')


@pytest.fixture
def world(make_org):
    return {
        "supplier": make_org("heilong", name="Heilong Graphite Anode"),
        "requester": make_org("silesia", name="Silesia Cell Works"),
    }


def ask(session_factory, world, parts, *, asked_at=None, due_date=None, supplier="heilong"):
    """The requester asks `supplier` about each of `parts`, and the supplier is notified of each, as
    the bus's notify consumer does; returns the request ids in the order asked."""
    with session_factory() as session:
        ids = ask_in(session, world, parts, now=asked_at or utcnow(), due_date=due_date, supplier=supplier)
        session.commit()
    return ids


def ask_in(session, world, parts, *, now, due_date=None, supplier="heilong"):
    """`ask` in `session`, which is left to commit."""
    ids = []
    requester = session.get(Organization, world["requester"].organization.id)
    for part in parts:
        item = create_request(
            session, requester, supplier_slug=supplier, part_number=part, due_date=due_date, now=now
        )
        ensure_request_notification(session, item.id, now=now)
        ids.append(item.id)
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
    assert "1 on this page is new since you last looked, marked “New”. The newest first, 100 a page." in page
    assert NEW_LINK.findall(page) == [request_id]
    assert menu_count(client) is None  # seen
    again = client.get("/notifications").get_data(as_text=True)
    assert "Nothing on this page is new since you last looked." in again and NEW_BADGE not in again
    assert REQUEST_LINK.findall(again) == [request_id]  # still listed
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
    # Newest first: the reminder (now), then the new request (30 days ago); both new to this person.
    assert page.index("<strong>Reminder</strong>: the request from Silesia Cell Works") < page.index(
        "<strong>New request</strong>"
    )
    assert REQUEST_LINK.findall(page) == [request_id, request_id]
    assert NEW_LINK.findall(page) == [request_id, request_id]


def test_the_menu_counts_what_is_new_to_the_person_however_old_and_caps_the_figure(
    client, world, signed_in, session_factory
):
    """Before: the menu counted the last 7 days, whether the person had looked or not."""
    signed_in(world["supplier"])
    assert menu_count(client) is None  # nothing at all: no badge
    ask(session_factory, world, ["OLD-1", "OLD-2"], asked_at=utcnow() - timedelta(days=30))
    assert menu_count(client) == "2"  # never looked: new, however old
    client.get("/notifications")
    assert menu_count(client) is None
    ask(session_factory, world, [f"NEW-{n}" for n in range(99)], asked_at=utcnow() - timedelta(minutes=5))
    assert menu_count(client) == "99"
    ask(session_factory, world, ["NEW-99"])
    assert menu_count(client) == "99+"
    # The page's own menu counts after the page marked what it shows: nothing is left.
    assert menu_count(client, "/notifications") is None
    assert menu_count(client) is None


def test_a_notification_created_while_the_page_is_made_stays_new(
    client, world, signed_in, session_factory, monkeypatch
):
    (shown,) = ask(session_factory, world, ["SHOWN"], asked_at=utcnow() - timedelta(seconds=1))
    signed_in(world["supplier"])
    arrived = []

    def list_then_one_arrives(session, *args, **kwargs):
        page = list_notifications(session, *args, **kwargs)
        # Newer than every one the page shows; in the page's transaction, as SQLite has one writer at a time.
        arrived.extend(ask_in(session, world, ["ARRIVED"], now=utcnow()))
        return page

    monkeypatch.setattr(portal.web.notifications, "list_notifications", list_then_one_arrives)
    page = client.get("/notifications").get_data(as_text=True)
    assert REQUEST_LINK.findall(page) == [shown]
    monkeypatch.undo()

    assert menu_count(client) == "1"
    page = client.get("/notifications").get_data(as_text=True)
    assert NEW_LINK.findall(page) == arrived and REQUEST_LINK.findall(page) == [*arrived, shown]
    assert menu_count(client) is None


def test_colleagues_each_see_what_is_new_to_them_and_other_organisations_are_unaffected(
    app, client, world, signed_in, session_factory, make_person, make_org
):
    rival = make_org("qinghai", name="Qinghai Lithium")
    (for_heilong,) = ask(session_factory, world, ["HGA-SG-18"])
    (for_rival,) = ask(session_factory, world, ["QL-LIOH"], supplier="qinghai")
    signed_in(world["supplier"])  # colleague A, on `client`
    colleague, other = app.test_client(), app.test_client()
    assert log_in(colleague, make_person(world["supplier"])).status_code == 302
    assert log_in(other, make_person(rival)).status_code == 302
    assert menu_count(client) == menu_count(colleague) == menu_count(other) == "1"

    assert NEW_LINK.findall(client.get("/notifications").get_data(as_text=True)) == [for_heilong]
    assert menu_count(client) is None
    # What A saw is still new to B, and a person of another organisation counts their own, as before.
    assert menu_count(colleague) == "1" and menu_count(other) == "1"
    assert NEW_LINK.findall(colleague.get("/notifications").get_data(as_text=True)) == [for_heilong]
    assert NEW_LINK.findall(other.get("/notifications").get_data(as_text=True)) == [for_rival]
    assert menu_count(colleague) is None and menu_count(other) is None


def test_the_menu_counts_with_one_statement_and_a_page_without_the_list_marks_nothing(
    client, world, signed_in, session_factory, engine
):
    ask(session_factory, world, ["HGA-SG-18", "HGA-SG-19"])
    signed_in(world["supplier"])
    statements = []

    def record(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert menu_count(client, "/inbox") == "2"
    finally:
        event.remove(engine, "before_cursor_execute", record)
    about_notifications = [s for s in statements if "from notifications" in " ".join(s.lower().split())]
    assert len(about_notifications) == 1 and "count(" in about_notifications[0].lower()
    assert not any(s.lstrip().upper().startswith("UPDATE USERS") for s in statements)
    assert menu_count(client) == "2"


def test_later_pages_mark_what_was_new_when_the_list_was_opened(client, world, signed_in, session_factory):
    start = utcnow() - timedelta(days=1)
    old = ask(session_factory, world, ["SEEN"], asked_at=start)
    signed_in(world["supplier"])
    client.get("/notifications")
    new = []
    for number in range(PAGE_SIZE + 5):
        new += ask(session_factory, world, [f"P-{number}"], asked_at=start + timedelta(minutes=1 + number))
    assert menu_count(client) == "99+"

    first = client.get("/notifications").get_data(as_text=True)
    assert NEW_LINK.findall(first) == new[::-1][:PAGE_SIZE]
    assert menu_count(client) is None  # the first page marked everything up to its newest seen
    following = html.unescape(NEXT_PAGE.search(first).group(1))
    second = client.get(following).get_data(as_text=True)
    # The second page still marks the 5 that were new when the list was opened, not the one seen before.
    assert NEW_LINK.findall(second) == new[::-1][PAGE_SIZE:]
    assert REQUEST_LINK.findall(second) == [*new[::-1][PAGE_SIZE:], *old]
    assert "5 on this page are new since you last looked" in second
    # Opened again from the menu, nothing is new any more.
    assert NEW_BADGE not in client.get("/notifications").get_data(as_text=True)


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
    assert re.search(
        r'<a href="/notifications\?seen=[^"]+">← First page</a>', client.get(second).get_data(as_text=True)
    )


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


@pytest.mark.parametrize(
    "query", ["cursor=not-a-cursor", "seen=yesterday", "seen=2026-03-01T09:00:00", "seen=", "seen=NEVER"]
)
def test_a_broken_page_link_of_the_notifications_says_so_and_marks_nothing(
    client, world, signed_in, session_factory, query
):
    ask(session_factory, world, ["HGA-SG-18"])
    signed_in(world["supplier"])
    answer = client.get(f"/notifications?{query}")
    assert answer.status_code == 400
    assert "This link to a page of the list is broken or out of date" in answer.get_data(as_text=True)
    assert menu_count(client) == "1"
