"""Signing keys: register a raw Ed25519 public key, revoke one."""

from __future__ import annotations

from typing import Any

from flask import Response

from portal.api.parsing import Blueprint
from portal.auth import current_organization
from portal.db import db_session
from schemas.api import ErrorSchema, KeyCreateSchema, KeySchema
from tiertrace.organizations.services import register_key, revoke_key

blp = Blueprint("keys", __name__, url_prefix="/api/v1/keys", description="Signing keys")


@blp.post("")
@blp.arguments(KeyCreateSchema)
@blp.response(201, KeySchema)
@blp.alt_response(200, schema=KeySchema, description="The caller had registered this key already")
@blp.alt_response(
    409, schema=ErrorSchema, description="The key is another organisation's, or was revoked (for good)"
)
def create(body: dict[str, Any]) -> Any:
    """Register a signing key; 201 when new, 200 when the caller had it already."""
    session = db_session()
    key, created = register_key(session, current_organization(), body["public_key"])
    session.commit()
    return {"keyid": key.keyid}, (201 if created else 200)


@blp.delete("/<string:keyid>")
@blp.response(204)
@blp.alt_response(404, schema=ErrorSchema, description="The caller has no key with this id")
def revoke(keyid: str) -> Response:
    """Revoke a key: declarations it signed stay valid, new ones signed with it are refused."""
    session = db_session()
    revoke_key(session, current_organization(), keyid)
    session.commit()
    return Response(status=204)
