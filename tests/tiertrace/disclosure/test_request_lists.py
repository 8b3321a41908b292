"""Listing requests a page at a time: the newest first, or by due date, the earliest first."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import list_requests
from tiertrace.errors import RuleViolationError
from tiertrace.organizations.models import Organization
from tiertrace.pagination import PAGE_SIZE, Key

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D0 = date(2026, 4, 1)
COUNT = 2 * PAGE_SIZE + 50


def by_due_date(item: DisclosureRequest) -> tuple[date, datetime, str]:
    """The order the list promises: due date, the earliest first; then created, then id."""
    return (item.due_date, item.created_at, item.id)


def by_newest(item: DisclosureRequest) -> tuple[datetime, str]:
    return (item.created_at, item.id)


@pytest.fixture
def world(make_org, session_factory):
    """COUNT open requests to a supplier from two customers, with ties on the due date (and on both the
    due date and the creation time); an answered one and one to another supplier, which its open list
    leaves out."""
    supplier, other = make_org("jinlu"), make_org("lumen")
    customers = [make_org("noordhaven"), make_org("fjordcell")]
    with session_factory() as session:
        for number in range(COUNT):
            session.add(
                DisclosureRequest(
                    requester_id=customers[number % 2].organization.id,
                    supplier_id=supplier.organization.id,
                    part_number=f"GA-{number:03d}",
                    status="open",
                    due_date=D0 + timedelta(days=number % 5),
                    created_at=T0 + timedelta(minutes=number % 40),
                )
            )
        session.add(
            DisclosureRequest(
                requester_id=customers[0].organization.id,
                supplier_id=supplier.organization.id,
                part_number="DONE",
                status="answered",
                due_date=D0 - timedelta(days=30),
                created_at=T0,
            )
        )
        session.add(
            DisclosureRequest(
                requester_id=customers[0].organization.id,
                supplier_id=other.organization.id,
                part_number="ELSEWHERE",
                status="open",
                due_date=D0 - timedelta(days=30),
                created_at=T0,
            )
        )
        session.commit()
    return {"supplier": supplier, "customer": customers[0]}


def walk(session, viewer, *, limit, order=None, box="incoming", status="open"):
    """Every page from the first to the last, each a list of requests."""
    options = {} if order is None else {"order": order}
    pages, cursor = [], None
    while True:
        page = list_requests(session, viewer, box=box, status=status, cursor=cursor, limit=limit, **options)
        pages.append(page.items)
        if page.next is None:
            return pages
        cursor = page.next


def open_requests(session, supplier):
    return session.query(DisclosureRequest).filter_by(supplier_id=supplier.id, status="open").all()


@pytest.mark.parametrize("limit", [PAGE_SIZE, 7])
def test_by_due_date_every_request_comes_once_the_earliest_due_first(session_factory, world, limit):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        pages = walk(session, supplier, limit=limit, order="due_date")
        listed = [item for page in pages for item in page]
        expected = sorted(open_requests(session, supplier), key=by_due_date)
        assert [item.id for item in listed] == [item.id for item in expected]
        assert [len(page) for page in pages] == [limit] * (COUNT // limit) + [COUNT % limit] * bool(
            COUNT % limit
        )
        assert listed[0].due_date == D0 and listed[-1].due_date == D0 + timedelta(days=4)
        # Ties on the due date and the creation time were there to break (by id).
        assert len({(item.due_date, item.created_at) for item in listed}) < COUNT


def test_the_newest_first_stays_the_default(session_factory, world):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        listed = [item.id for page in walk(session, supplier, limit=PAGE_SIZE) for item in page]
        expected = sorted(open_requests(session, supplier), key=by_newest, reverse=True)
        assert listed == [item.id for item in expected]


def test_the_requester_sees_what_it_waits_for_by_due_date_too(session_factory, world):
    with session_factory() as session:
        customer = session.get(Organization, world["customer"].organization.id)
        pages = walk(session, customer, limit=PAGE_SIZE, order="due_date", box="outgoing", status=None)
        listed = [item for page in pages for item in page]
        sent = session.query(DisclosureRequest).filter_by(requester_id=customer.id).all()
        assert [item.id for item in listed] == [item.id for item in sorted(sent, key=by_due_date)]
        assert listed[0].part_number in ("DONE", "ELSEWHERE") and len(listed) == COUNT // 2 + 2


@pytest.mark.parametrize("limit", [PAGE_SIZE, 40])
def test_requests_filed_meanwhile_neither_repeat_nor_hide_a_row_by_due_date(session_factory, world, limit):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        first = list_requests(session, supplier, box="incoming", status="open", order="due_date", limit=limit)
        last = first.items[-1]
        customer = world["customer"].organization.id
        # Before the page's last row (not listed any more), tied with it but later or earlier, and after it.
        for number, (due_date, created_at) in enumerate(
            [
                (D0 - timedelta(days=1), T0 + timedelta(days=1)),
                (last.due_date, last.created_at - timedelta(seconds=1)),
                (last.due_date, last.created_at + timedelta(seconds=1)),
                (last.due_date, last.created_at),
                (D0 + timedelta(days=10), T0 - timedelta(days=1)),
            ]
        ):
            session.add(
                DisclosureRequest(
                    requester_id=customer,
                    supplier_id=supplier.id,
                    part_number=f"NEW-{number}",
                    status="open",
                    due_date=due_date,
                    created_at=created_at,
                )
            )
        session.flush()
        rest, cursor = [], first.next
        while cursor is not None:
            page = list_requests(
                session, supplier, box="incoming", status="open", order="due_date", cursor=cursor, limit=limit
            )
            rest.extend(page.items)
            cursor = page.next
        everything = sorted(open_requests(session, supplier), key=by_due_date)
        after = [item.id for item in everything if by_due_date(item) > by_due_date(last)]
        assert [item.id for item in rest] == after
        assert {item.id for item in first.items}.isdisjoint(after)
        assert {"NEW-2", "NEW-4"} <= {item.part_number for item in rest}
        assert not {"NEW-0", "NEW-1"} & {item.part_number for item in rest}


def test_a_cursor_made_for_one_order_is_refused_by_the_other(session_factory, world):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        cursors = {
            order: list_requests(session, supplier, box="incoming", order=order, limit=3).next
            for order in ("newest", "due_date")
        }
        for made, used in (("newest", "due_date"), ("due_date", "newest")):
            with pytest.raises(RuleViolationError) as refused:
                list_requests(session, supplier, box="incoming", order=used, cursor=cursors[made])
            assert refused.value.message == "bad cursor"
            assert list_requests(session, supplier, box="incoming", order=made, cursor=cursors[made]).items


def test_a_nullable_column_cannot_be_a_key_of_an_order():
    """A page after a cursor is one range of an index only without NULLs, which the databases sort apart."""
    with pytest.raises(ValueError, match="nullable"):
        Key(DisclosureRequest.message)


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("order", "cursor"),
    [
        ("due_date", "not-a-cursor"),
        ("due_date", _cursor(["due_date", "2026-04-01", "2026-03-02T09:00:00+00:00"])),
        ("due_date", _cursor(["due_date", "2026-04-01", "2026-03-02T09:00:00", "an-id"])),
        ("due_date", _cursor(["due_date", "soon", "2026-03-02T09:00:00+00:00", "an-id"])),
        ("due_date", _cursor(["due_date", None, None, "an-id"])),
        ("newest", _cursor(["newest", "2026-03-02T09:00:00", "an-id"])),
        ("newest", _cursor(["newest", "2026-03-02T09:00:00+00:00", 7])),
        ("newest", _cursor({"newest": 1})),
    ],
)
def test_a_cursor_no_list_made_is_refused(session_factory, world, order, cursor):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        with pytest.raises(RuleViolationError) as refused:
            list_requests(session, supplier, box="incoming", order=order, cursor=cursor)
        assert refused.value.message == "bad cursor"


def test_an_unknown_order_is_refused(session_factory, world):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        with pytest.raises(RuleViolationError) as refused:
            list_requests(session, supplier, box="incoming", order="oldest")
        assert refused.value.details == {"order": "one of newest, due_date"}
