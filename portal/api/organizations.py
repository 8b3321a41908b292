"""Organisations: the operator registers them; everyone reads their own."""

from __future__ import annotations

from typing import Any

from portal.api.parsing import Blueprint
from portal.auth import current_organization, require_kind, require_kind_to_read
from portal.db import db_session
from schemas.api import (
    ErrorSchema,
    OrganizationCreatedSchema,
    OrganizationCreateSchema,
    OrganizationSchema,
    SupplierToOnboardPageSchema,
)
from tiertrace.organizations.onboarding import suppliers_to_onboard
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
@blp.alt_response(403, schema=ErrorSchema, description="The caller is not the operator")
@blp.alt_response(409, schema=ErrorSchema, description="An organisation with this slug exists already")
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


@blp.get("/onboarding")
@blp.response(200, SupplierToOnboardPageSchema)
@blp.alt_response(404, schema=ErrorSchema, description="The caller is not the operator")
def onboarding() -> dict[str, Any]:
    """The organisations to onboard (operator only): suppliers that current declarations name by
    `supplier_name` / `supplier_country` because they are not on the portal, most named first.

    Counts only: nothing says which organisations named a supplier or for which parts. An entry marked
    `registered_as` matches a registered company; it leaves the list once the declaring organisations
    have filed versions naming that slug. The list is one page (`next` is null).
    """
    require_kind_to_read("operator")
    return {"items": suppliers_to_onboard(db_session()), "next": None}
