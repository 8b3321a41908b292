"""Declarations: submit a DSSE envelope (kept byte for byte), read one back."""

from __future__ import annotations

from typing import Any

from flask import request

from portal.api.parsing import Blueprint, body_limit, request_body
from portal.auth import current_organization, require_kind
from portal.db import db_session
from schemas.api import DeclarationAcceptedSchema, DeclarationSchema, EnvelopeSchema, ErrorSchema
from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import (
    MAX_ENVELOPE_BYTES,
    EnvelopeTooLargeError,
    SubmitResult,
    read_declaration,
    submit_declaration,
)
from tiertrace.organizations.models import Organization
from tiertrace.signing import standard_envelope

blp = Blueprint(
    "declarations", __name__, url_prefix="/api/v1/declarations", description="Signed declarations"
)


def accepted_body(declaration: Declaration | SubmitResult, issuer: Organization) -> dict[str, Any]:
    return {
        "id": declaration.id,
        "issuer": issuer.slug,
        "part_number": declaration.part_number,
        "supersedes": declaration.supersedes_id,
        "accepted_at": declaration.accepted_at,
    }


@blp.post("")
@body_limit(MAX_ENVELOPE_BYTES)
@blp.doc(
    requestBody={
        "required": True,
        "description": "A DSSE envelope signed with a key registered to the issuer (at most 1 MiB).",
        "content": {"application/json": {"schema": EnvelopeSchema}},
    }
)
@blp.response(201, DeclarationAcceptedSchema)
@blp.alt_response(
    200, schema=DeclarationAcceptedSchema, description="The same envelope had been accepted before"
)
@blp.alt_response(400, schema=ErrorSchema, description="Not JSON, not a DSSE envelope, or payload not base64")
@blp.alt_response(403, schema=ErrorSchema, description="The payload's issuer is not the caller")
@blp.alt_response(409, schema=ErrorSchema, description="Same id with other bytes, or a version conflict")
@blp.alt_response(413, schema=ErrorSchema, description="Envelope over 1 MiB")
@blp.alt_response(422, schema=ErrorSchema, description="Payload type, signature, key or payload rules")
def submit() -> Any:
    """Submit a signed declaration; 201 when accepted, 200 when the same envelope comes again."""
    if request.content_length is not None and request.content_length > MAX_ENVELOPE_BYTES:
        raise EnvelopeTooLargeError(f"the envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
    organization = require_kind("company")
    # Read before the token lookup, one byte past the limit so that a body without Content-Length is
    # still caught before parsing (413 from submit_declaration).
    envelope = request_body()
    session = db_session()
    result = submit_declaration(session, organization, envelope)
    session.commit()
    return accepted_body(result, organization), (201 if result.created else 200)


@blp.get("/<string:declaration_id>")
@blp.response(200, DeclarationSchema)
@blp.alt_response(404, schema=ErrorSchema, description="No such declaration, or the caller may not see it")
def show(declaration_id: str) -> dict[str, Any]:
    """The envelope (standard base64) and its decoded payload (issuer, its customers, the authority).

    A customer does not learn a component supplier the issuer disclosed to the authority only: that
    supplier is blanked in the payload and the envelope, whose signed bytes name it, is withheld (null).
    """
    session = db_session()
    reading = read_declaration(session, current_organization(), declaration_id)
    declaration = reading.declaration
    issuer = session.get(Organization, declaration.issuer_id)
    assert issuer is not None
    return {
        **accepted_body(declaration, issuer),
        "envelope": standard_envelope(declaration.envelope) if reading.envelope_shown else None,
        "payload": reading.payload,
        "superseded_by": declaration.superseded_by_id,
        "is_current": declaration.is_current,
        "keyid": declaration.keyid,
    }
