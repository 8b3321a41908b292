"""Long lists in the web: the inbox and Sent requests a page at a time, every request reachable once, in
the order the page states."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from web_helpers import NEXT_PAGE, REQUEST_LINK, walk

from tiertrace.db import utcnow
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from tiertrace.pagination import PAGE_SIZE

_FIRST = re.compile(r'<a href="([^"]+)">← First page</a>')


@pytest.fixture
def world(make_org):
    """A refiner with many customers: two requesters and the supplier they both ask."""
    return {
        "supplier": make_org("jinlu", name="Jinlu Gallium Refinery"),
        "oem": make_org("noordhaven", name="Noordhaven Naval"),
        "integrator": make_org("fjordcell", name="Fjordcell Marine Energy"),
    }


def file_requests(session_factory, world, counts):
    """File requests to the supplier, alternately from both requesters, `counts[status]` of each status,
    due on one of a few days (so that many share theirs), and the later filed the sooner due; returns
    their ids per status."""
    ids: dict[str, list[str]] = {}
    today = utcnow().date()
    with session_factory() as session:
        requesters = [session.get(Organization, world[key].organization.id) for key in ("oem", "integrator")]
        for status, count in counts.items():
            for number in range(count):
                item = create_request(
                    session, requesters[number % 2], supplier_slug="jinlu", part_number=f"{status}-{number}"
                )
                item.status = status
                item.due_date = today + timedelta(days=(count - number) // 7)
                ids.setdefault(status, []).append(item.id)
        session.commit()
    return ids


def newest_first(session_factory, ids):
    """`ids` in the order of All, Answered and Declined: the newest request first."""
    with session_factory() as session:
        rows = session.scalars(select(DisclosureRequest).where(DisclosureRequest.id.in_(ids)))
        return [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]


def by_due_date(session_factory, ids):
    """`ids` in the order of To answer and Waiting for an answer: the earliest due date first, then the
    oldest first."""
    with session_factory() as session:
        rows = session.scalars(select(DisclosureRequest).where(DisclosureRequest.id.in_(ids)))
        return [r.id for r in sorted(rows, key=lambda r: (r.due_date, r.created_at, r.id))]


@pytest.mark.parametrize(
    ("overdue", "open_"),
    [(130, 120), (PAGE_SIZE, 3), (PAGE_SIZE, 0), (0, PAGE_SIZE + 1), (40, 30)],
    ids=["both-span-pages", "overdue-fill-a-page", "overdue-only", "open-only", "one-page"],
)
def test_the_inbox_walks_every_request_to_answer_once_overdue_first_each_by_due_date(
    client, world, signed_in, session_factory, overdue, open_
):
    ids = file_requests(session_factory, world, {"overdue": overdue, "open": open_, "answered": 5})
    signed_in(world["supplier"])
    pages = walk(client, "/inbox")
    assert all(0 < len(page) <= PAGE_SIZE for page in pages)
    assert [len(page) for page in pages[:-1]] == [PAGE_SIZE] * (len(pages) - 1)  # only the last one short
    expected = by_due_date(session_factory, ids.get("overdue", [])) + by_due_date(
        session_factory, ids.get("open", [])
    )
    assert [request_id for page in pages for request_id in page] == expected
    assert len(pages) == -(-(overdue + open_) // PAGE_SIZE)
    assert "Overdue requests first, then open ones; each by due date, the earliest first, 100 a page." in (
        client.get("/inbox").get_data(as_text=True)
    )


def test_every_page_after_the_first_links_back_to_it_and_says_the_order(
    client, world, signed_in, session_factory
):
    file_requests(session_factory, world, {"answered": PAGE_SIZE + 20})
    signed_in(world["supplier"])
    first = client.get("/inbox?tab=answered").get_data(as_text=True)
    assert "The newest first, 100 a page." in first
    assert _FIRST.search(first) is None
    second = client.get(html.unescape(NEXT_PAGE.search(first).group(1))).get_data(as_text=True)
    assert html.unescape(_FIRST.search(second).group(1)) == "/inbox?tab=answered"
    assert NEXT_PAGE.search(second) is None and len(REQUEST_LINK.findall(second)) == 20
    todo = client.get("/inbox").get_data(as_text=True)
    assert "Nothing here: no request is waiting for an answer." in todo and NEXT_PAGE.search(todo) is None


@pytest.mark.parametrize(
    ("tab", "statuses"),
    [("all", ("overdue", "open", "answered", "declined")), ("waiting", ("overdue", "open"))],
)
def test_sent_requests_walk_every_request_once(client, world, signed_in, session_factory, tab, statuses):
    ids = file_requests(session_factory, world, {"open": 130, "overdue": 110, "answered": 60, "declined": 30})
    # The OEM sent every other request; the integrator's are not in its list.
    with session_factory() as session:
        sent = set(
            session.scalars(
                select(DisclosureRequest.id).where(
                    DisclosureRequest.requester_id == world["oem"].organization.id
                )
            )
        )
    signed_in(world["oem"])
    pages = walk(client, f"/outbox?tab={tab}")
    listed = [request_id for page in pages for request_id in page]
    if tab == "all":
        expected = newest_first(session_factory, sent)
    else:
        expected = [
            request_id
            for status in statuses
            for request_id in by_due_date(session_factory, ids[status])
            if request_id in sent
        ]
    assert listed == expected and len(expected) > PAGE_SIZE
    order = "The newest first" if tab == "all" else "Overdue requests first, then open ones; each by due date"
    assert order in client.get(f"/outbox?tab={tab}").get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    ["cursor=not-a-cursor", "status=answered", "status=", "tab=answered&status=open"],
)
def test_a_broken_page_link_says_so(client, world, signed_in, session_factory, query):
    file_requests(session_factory, world, {"open": 3})
    signed_in(world["supplier"])
    answer = client.get(f"/inbox?{query}")
    assert answer.status_code == 400
    assert "This link to a page of the list is broken or out of date" in answer.get_data(as_text=True)
    assert client.get(f"/outbox?{query.replace('answered', 'bogus')}").status_code == 400


def test_a_page_link_of_one_tab_does_not_open_a_tab_in_another_order(
    client, world, signed_in, session_factory
):
    file_requests(session_factory, world, {"open": PAGE_SIZE + 5, "answered": PAGE_SIZE + 5})
    signed_in(world["supplier"])
    answered = client.get("/inbox?tab=answered").get_data(as_text=True)
    cursor = re.search(r"cursor=([^&\"]+)", html.unescape(NEXT_PAGE.search(answered).group(1))).group(1)
    assert client.get(f"/inbox?tab=answered&status=answered&cursor={cursor}").status_code == 200
    answer = client.get(f"/inbox?tab=todo&status=open&cursor={cursor}")
    assert answer.status_code == 400
    assert "This link to a page of the list is broken or out of date" in answer.get_data(as_text=True)
