"""Disclosure requests: asking a supplier about a part, listing, declining."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tiertrace.db import canonical_id, utcnow
from tiertrace.declarations.models import Declaration
from tiertrace.disclosure.models import REQUEST_STATUSES, DisclosureRequest
from tiertrace.errors import ConflictError, ForbiddenError, NotFoundError, RuleViolationError
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import get_organization, lock_organizations
from tiertrace.outbox.services import record_event
from tiertrace.pagination import PAGE_SIZE, Key, Order, Page, keyset_page, newest_first_order


def create_request(
    session: Session,
    requester: Organization,
    *,
    supplier_slug: str,
    part_number: str,
    program: str | None = None,
    due_date: date | None = None,
    message: str | None = None,
    default_due_days: int = 42,
    now: datetime | None = None,
) -> DisclosureRequest:
    """Ask `supplier_slug` which critical raw materials `part_number` contains, and from where.

    Flushes the request and records a "request.created" outbox event. A due date before today makes
    the request overdue from the start (a question first asked outside the portal, say); the overdue
    sweep reminds the supplier as for any other. Raises ForbiddenError when the requester is not a
    company, RuleViolationError for an unknown supplier or an empty part number, ConflictError when the
    same open question is already pending.
    """
    now = now or utcnow()
    if requester.kind != "company":
        raise ForbiddenError("only companies send disclosure requests")
    problems: dict[str, str] = {}
    supplier = get_organization(session, supplier_slug) if isinstance(supplier_slug, str) else None
    if supplier is None or supplier.kind != "company":
        problems["supplier"] = f"{supplier_slug!r} is not a registered company"
    elif supplier.id == requester.id:
        problems["supplier"] = "an organisation cannot send a request to itself"
    if not part_number or not part_number.strip():
        problems["part_number"] = "required"
    if problems:
        raise RuleViolationError("the request is not valid", details=problems)
    assert supplier is not None
    lock_organizations(session, [requester.id])  # two of the requester's calls cannot both miss `pending`
    pending = session.scalar(
        select(DisclosureRequest.id).where(
            DisclosureRequest.requester_id == requester.id,
            DisclosureRequest.supplier_id == supplier.id,
            DisclosureRequest.part_number == part_number,
            DisclosureRequest.parent_id.is_(None),
            DisclosureRequest.status.in_(("open", "overdue")),
        )
    )
    if pending is not None:
        raise ConflictError(
            "the same question is already pending with this supplier", details={"id": pending}
        )
    due_date = due_date or (now.date() + timedelta(days=default_due_days))
    overdue = due_date < now.date()
    request = DisclosureRequest(
        requester_id=requester.id,
        supplier_id=supplier.id,
        part_number=part_number,
        program=program,
        status="overdue" if overdue else "open",
        due_date=due_date,
        message=message,
        created_at=now,
        overdue_at=now if overdue else None,
    )
    session.add(request)
    session.flush()
    record_event(session, "request.created", {"request_id": request.id})
    return request


def decline_request(
    session: Session, supplier: Organization, request_id: str, reason: str, *, now: datetime | None = None
) -> DisclosureRequest:
    """The supplier declines to answer, with a reason.

    Flushes and records "request.declined". Declining twice returns the request unchanged. Raises
    NotFoundError when the request is not addressed to `supplier`, RuleViolationError for an empty
    reason, ConflictError when the request was answered already.
    """
    # Serialised with the supplier's declarations, which answer its requests, and with its other declines.
    lock_organizations(session, [supplier.id])
    request = session.get(DisclosureRequest, request_id)
    if request is None or request.supplier_id != supplier.id:
        raise NotFoundError("no such request")
    if not isinstance(reason, str) or not reason.strip():
        raise RuleViolationError("a reason is required", details={"reason": "must be non-empty text"})
    if request.status == "declined":
        return request
    if request.status == "answered":
        raise ConflictError(
            "the request was answered already", details={"declaration_id": request.declaration_id}
        )
    request.status = "declined"
    request.decline_reason = reason.strip()
    request.answered_at = now or utcnow()
    session.flush()
    record_event(session, "request.declined", {"request_id": request.id})
    return request


def require_visible_request(session: Session, viewer: Organization, request_id: str) -> DisclosureRequest:
    """A request to or from `viewer` (the authority sees all). Raises NotFoundError otherwise."""
    request = session.get(DisclosureRequest, request_id)
    if request is None or not (
        viewer.kind == "authority" or viewer.id in (request.requester_id, request.supplier_id)
    ):
        raise NotFoundError("no such request")
    return request


#: The orders `list_requests` offers, by name: the newest first; or by due date, the earliest first, and on
#: the same date the oldest first.
REQUEST_ORDERS = {
    order.name: order
    for order in (
        newest_first_order(DisclosureRequest),
        Order(
            "due_date",
            (Key(DisclosureRequest.due_date), Key(DisclosureRequest.created_at), Key(DisclosureRequest.id)),
        ),
    )
}


def list_requests(
    session: Session,
    viewer: Organization,
    *,
    box: str,
    status: str | None = None,
    order: str = "newest",
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Page[DisclosureRequest]:
    """Requests to (`box="incoming"`) or from (`"outgoing"`) the viewer in one of REQUEST_ORDERS, a page at
    a time.

    Raises RuleViolationError for an unknown box, status or order, and for a cursor that is not one this
    function returned for the same order.
    """
    problems = {}
    if box not in ("incoming", "outgoing"):
        problems["box"] = "incoming or outgoing"
    if status is not None and status not in REQUEST_STATUSES:
        problems["status"] = f"one of {', '.join(REQUEST_STATUSES)}"
    if order not in REQUEST_ORDERS:
        problems["order"] = f"one of {', '.join(REQUEST_ORDERS)}"
    if problems:
        raise RuleViolationError("bad list parameters", details=problems)
    column = DisclosureRequest.supplier_id if box == "incoming" else DisclosureRequest.requester_id
    query = select(DisclosureRequest).where(column == viewer.id)
    if status is not None:
        query = query.where(DisclosureRequest.status == status)
    return keyset_page(session, query, REQUEST_ORDERS[order], cursor=cursor, limit=limit)


def answer_request(
    session: Session,
    supplier: Organization,
    request_id: str,
    declaration_id: str,
    *,
    now: datetime | None = None,
) -> DisclosureRequest:
    """Answer a request with a declaration the supplier already filed (one answer serves every customer).

    The declaration must be the supplier's current one for the requested part. A declined request is
    answered too, as a declaration naming it in `in_response_to` answers it: a supplier may change its
    mind, and the answer is worth more to the requester than the decline (its reason stays on record).
    Flushes. Raises NotFoundError when the request is not addressed to `supplier`, RuleViolationError
    for a declaration that is not its current one of that part.
    """
    # Serialised with the supplier's declarations, which supersede the one named here, and its declines.
    lock_organizations(session, [supplier.id])
    request = session.get(DisclosureRequest, request_id)
    if request is None or request.supplier_id != supplier.id:
        raise NotFoundError("no such request")
    declaration = (
        session.get(Declaration, canonical_id(declaration_id)) if isinstance(declaration_id, str) else None
    )
    if (
        declaration is None
        or declaration.issuer_id != supplier.id
        or not declaration.is_current
        or declaration.part_number != request.part_number
    ):
        raise RuleViolationError(
            "answer with your current declaration of the requested part",
            details={"declaration_id": "not your current declaration of " + request.part_number},
        )
    if request.status != "answered" or request.declaration_id != declaration.id:
        request.status = "answered"
        request.declaration_id = declaration.id
        request.answered_at = now or utcnow()
        session.flush()
    return request
