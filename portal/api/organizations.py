"""Organisations: the operator registers them; everyone reads their own."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from portal.auth import current_organization, require_kind
from portal.db import db_session
from schemas.api import OrganizationCreatedSchema, OrganizationCreateSchema, OrganizationSchema
from tiertrace.organizations.services import create_organization

blp = Blueprint(
    "organizations",
    __name__,
    url_prefix="/api/v1/organizations",
    description="Organisations and their first credentials",
)


@blp.post("")
@blp.arguments(OrganizationCreateSchema)
@blp.response(201, OrganizationCreatedSchema)
def create(body: dict[str, Any]) -> dict[str, str]:
    """Register an organisation (operator only); its first API token is returned this once."""
    require_kind("operator")
    session = db_session()
    organization, token = create_organization(session, **body)
    session.commit()
    return {"slug": organization.slug, "token": token}


@blp.get("/me")
@blp.response(200, OrganizationSchema)
def me() -> Any:
    """The caller's organisation."""
    return current_organization()
