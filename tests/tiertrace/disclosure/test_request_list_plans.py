"""The request lists read a page in the order of an index, on SQLite and PostgreSQL.

Before migration 0004 the lists found the viewer's requests through (supplier_id, status) or
(requester_id, status) and sorted all of them for every page: 20,000 requests of one supplier meant
20,000 rows read and sorted per page of 100. A later page starts in the index where the cursor is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, text

from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import list_requests
from tiertrace.organizations.models import Organization

#: Each list the inbox, the sent requests and the API show: (box, status, order), and its index.
LISTS = [
    (("incoming", "open", "due_date"), "ix_disclosure_requests_supplier_status_due"),
    (("incoming", "overdue", "due_date"), "ix_disclosure_requests_supplier_status_due"),
    (("outgoing", "open", "due_date"), "ix_disclosure_requests_requester_status_due"),
    (("incoming", None, "newest"), "ix_disclosure_requests_supplier_created"),
    (("outgoing", None, "newest"), "ix_disclosure_requests_requester_created"),
]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def parties(make_org, session_factory):
    """A supplier with open and overdue requests from a customer, due on different dates."""
    supplier, customer = make_org("jinlu"), make_org("noordhaven")
    with session_factory() as session:
        for number in range(6):
            session.add(
                DisclosureRequest(
                    requester_id=customer.organization.id,
                    supplier_id=supplier.organization.id,
                    part_number=f"GA-{number}",
                    status=("open", "overdue")[number % 2],
                    due_date=date(2026, 4, 1) + timedelta(days=number),
                    created_at=T0 + timedelta(hours=number),
                )
            )
        session.commit()
    return {"incoming": supplier.organization.id, "outgoing": customer.organization.id}


def _statement(session, viewer, **options):
    """The SQL and parameters of the query `list_requests(**options)` sends, and the page it answers."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        page = list_requests(session, viewer, limit=2, **options)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return seen[-1], page


def _plan(session, statement, parameters) -> str:
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    # A near-empty table is cheapest to scan and sort: forbid both, so the plan shows whether an index
    # serves the order. Without one, PostgreSQL still sorts.
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
        connection.execute(text(f"SET LOCAL {setting} = off"))
    return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))


@pytest.mark.parametrize(
    ("options", "index"), LISTS, ids=["-".join(map(str, options)) for options, _ in LISTS]
)
def test_a_page_is_read_in_the_order_of_an_index_without_a_sort(session_factory, parties, options, index):
    box, status, order = options
    with session_factory() as session:
        viewer = session.get(Organization, parties[box])
        first_query, first = _statement(session, viewer, box=box, status=status, order=order)
        assert first.next is not None
        next_query, _ = _statement(session, viewer, box=box, status=status, order=order, cursor=first.next)
        for query in (first_query, next_query):
            plan = _plan(session, *query)
            assert index in plan, plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


#: What the plan of a later page says when it starts in the index where the cursor is, per order and
#: database; without it the database reads the box from its first request on and filters out the pages
#: before.
SEEK = {
    ("newest", "sqlite"): "created_at<?",
    ("newest", "postgresql"): "created_at <=",
    ("due_date", "sqlite"): "due_date>?",
    ("due_date", "postgresql"): "due_date >=",
}


@pytest.mark.parametrize(
    ("box", "status", "order"),
    [
        ("incoming", None, "newest"),
        ("outgoing", None, "newest"),
        ("incoming", "open", "due_date"),
        ("outgoing", "overdue", "due_date"),
    ],
)
def test_a_later_page_starts_where_the_cursor_is(session_factory, parties, box, status, order):
    """By due date since migration 0006 (due_date NOT NULL): before, the NULLs that sort after every date
    made the rows after a cursor no range of the index."""
    with session_factory() as session:
        viewer = session.get(Organization, parties[box])
        _, first = _statement(session, viewer, box=box, status=status, order=order)
        (statement, parameters), _ = _statement(
            session, viewer, box=box, status=status, order=order, cursor=first.next
        )
        plan = _plan(session, statement, parameters)
        assert SEEK[order, session.get_bind().dialect.name] in plan, plan


def test_a_later_page_newest_first_keeps_the_requests_filed_at_the_same_time_as_the_cursor(
    session_factory, make_org
):
    """The cursor's bound includes its own time: the rest of a tie comes on the next page, by id."""
    supplier, customer = make_org("jinlu"), make_org("noordhaven")
    with session_factory() as session:
        for number in range(5):
            session.add(
                DisclosureRequest(
                    requester_id=customer.organization.id,
                    supplier_id=supplier.organization.id,
                    part_number=f"GA-{number}",
                    due_date=date(2026, 4, 1),
                    created_at=T0,
                )
            )
        session.commit()
        viewer = session.get(Organization, supplier.organization.id)
        listed, cursor = [], None
        while True:
            page = list_requests(session, viewer, box="incoming", cursor=cursor, limit=2)
            listed += [item.id for item in page.items]
            if page.next is None:
                break
            cursor = page.next
        everything = session.query(DisclosureRequest).filter_by(supplier_id=viewer.id).all()
        assert listed == sorted((item.id for item in everything), reverse=True)
