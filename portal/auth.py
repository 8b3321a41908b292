"""Bearer-token authentication for API v1."""

from __future__ import annotations

from flask import g, request

from portal.db import db_session
from tiertrace.errors import ForbiddenError, NotFoundError
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import authenticate_token


def bearer_token() -> str | None:
    """The request's bearer token, None when it sends none (`Authorization: Bearer <token>`)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def current_organization() -> Organization:
    """The organisation of the request's bearer token. Raises AuthenticationError (401)."""
    if "organization" not in g:
        g.organization = authenticate_token(db_session(), bearer_token())
    return g.organization


def require_kind(*kinds: str) -> Organization:
    """The caller, if it is an organisation of one of `kinds`. Raises ForbiddenError otherwise."""
    organization = current_organization()
    if organization.kind not in kinds:
        raise ForbiddenError(f"this is for {' or '.join(kinds)} organisations")
    return organization


def require_kind_to_read(*kinds: str) -> Organization:
    """The caller, if it is an organisation of one of `kinds`. Raises NotFoundError otherwise.

    For reads reserved to some kinds (the authority's audit): a resource the caller may not see answers
    404, not 403 (DESIGN), as the web pages do.
    """
    organization = current_organization()
    if organization.kind not in kinds:
        raise NotFoundError("no such resource")
    return organization
