"""Disclosure requests: ask a supplier, list incoming/outgoing, decline."""

from __future__ import annotations

from typing import Any

from portal import current_settings
from portal.api.parsing import Blueprint
from portal.auth import require_kind
from portal.db import db_session
from schemas.api import (
    AnswerSchema,
    DeclineSchema,
    ErrorSchema,
    RequestCreateSchema,
    RequestListQuerySchema,
    RequestPageSchema,
    RequestSchema,
)
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import answer_request, create_request, decline_request, list_requests

blp = Blueprint("requests", __name__, url_prefix="/api/v1/requests", description="Disclosure requests")

NOT_A_COMPANY = "The caller is not a company (an authority or the operator)"
NOT_ITS_SUPPLIER = "No such request, or the caller is not its supplier"


def request_body(request: DisclosureRequest) -> dict[str, Any]:
    """A request as API v1 shows it (organisations by slug)."""
    return {
        "id": request.id,
        "requester": request.requester.slug,
        "supplier": request.supplier.slug,
        "part_number": request.part_number,
        "program": request.program,
        "status": request.status,
        "due_date": request.due_date,
        "parent_id": request.parent_id,
        "declaration_id": request.declaration_id,
        "created_at": request.created_at,
        "message": request.message,
        "decline_reason": request.decline_reason,
    }


@blp.post("")
@blp.arguments(RequestCreateSchema)
@blp.response(201, RequestSchema)
@blp.alt_response(403, schema=ErrorSchema, description=NOT_A_COMPANY)
@blp.alt_response(
    409, schema=ErrorSchema, description="The same question is already pending with this supplier"
)
def create(body: dict[str, Any]) -> dict[str, Any]:
    """Ask a supplier which critical raw materials a part contains and where they come from."""
    session = db_session()
    request = create_request(
        session,
        require_kind("company"),
        supplier_slug=body["supplier"],
        part_number=body["part_number"],
        program=body["program"],
        due_date=body["due_date"],
        message=body["message"],
        default_due_days=current_settings().default_due_days,
    )
    session.commit()
    return request_body(request)


@blp.get("")
@blp.arguments(RequestListQuerySchema, location="query")
@blp.response(200, RequestPageSchema)
@blp.alt_response(403, schema=ErrorSchema, description=NOT_A_COMPANY)
def index(query: dict[str, Any]) -> dict[str, Any]:
    """Requests to (box=incoming) or from (box=outgoing) the caller, newest first."""
    page = list_requests(
        db_session(),
        require_kind("company"),
        box=query["box"],
        status=query.get("status"),
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    return {"items": [request_body(r) for r in page.items], "next": page.next}


@blp.post("/<string:request_id>/decline")
@blp.arguments(DeclineSchema)
@blp.response(200, RequestSchema)
@blp.alt_response(403, schema=ErrorSchema, description=NOT_A_COMPANY)
@blp.alt_response(404, schema=ErrorSchema, description=NOT_ITS_SUPPLIER)
@blp.alt_response(409, schema=ErrorSchema, description="The request was answered already")
def decline(body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The supplier declines to answer, with a reason."""
    session = db_session()
    request = decline_request(session, require_kind("company"), request_id, body["reason"])
    session.commit()
    return request_body(request)


@blp.post("/<string:request_id>/answer")
@blp.arguments(AnswerSchema)
@blp.response(200, RequestSchema)
@blp.alt_response(403, schema=ErrorSchema, description=NOT_A_COMPANY)
@blp.alt_response(404, schema=ErrorSchema, description=NOT_ITS_SUPPLIER)
def answer(body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The supplier answers with a declaration it already filed for that part (no new version needed).

    A request the supplier declined may still be answered: the answer replaces the decline (its reason
    stays on record), as a declaration naming the request in `in_response_to` does.
    """
    session = db_session()
    request = answer_request(session, require_kind("company"), request_id, body["declaration_id"])
    session.commit()
    return request_body(request)
