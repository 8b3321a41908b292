"""The one place where errors become HTTP answers: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from tiertrace.declarations.services import EnvelopeTooLargeError
from tiertrace.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    MalformedInputError,
    NotFoundError,
    RuleViolationError,
    TiertraceError,
)

STATUS_BY_ERROR: list[tuple[type[TiertraceError], int]] = [
    (EnvelopeTooLargeError, 413),
    (MalformedInputError, 400),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (RuleViolationError, 422),
]


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Any:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tiertrace"'
    return response


def handle_domain_error(error: TiertraceError) -> Any:
    status = next((s for cls, s in STATUS_BY_ERROR if isinstance(error, cls)), 400)
    return error_response(status, error.code, error.message, error.details)


def handle_http_exception(error: HTTPException) -> Any:
    """Werkzeug's and webargs' errors (404 route, 405, 413, schema validation) in the same shape."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    details = data.get("errors") or data.get("messages") or {}
    # webargs nests validation messages by location ("json", "query"); the location is noise here. A
    # body that is not JSON at all comes as {"json": ["Invalid JSON body."]}: a list, kept under "json".
    not_json = False
    locations: set[str] = set()
    if isinstance(details, dict) and set(details) <= {"json", "query", "form", "headers", "files"}:
        locations = set(details)
        merged: dict[str, Any] = {}
        for location, part in details.items():
            if isinstance(part, dict):
                merged.update(part)
            else:
                merged[location] = part
                not_json = not_json or location == "json"
        details = merged
    code = {
        400: "malformed",
        401: "unauthenticated",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        422: "invalid",
    }.get(status, error.name.lower().replace(" ", "_"))
    message = data.get("message")
    if not message:
        if status == 422:
            # ?max_nodes=0 is not in the body: say where to look
            part = "query string" if locations == {"query"} else "request body"
            message = f"the {part} breaks the rules"
        elif not_json:
            message = "the request body is not valid JSON"
        else:
            message = error.description
    return error_response(status, code, message or error.name, details)


#: Seconds a client is asked to wait before trying again when the database cannot be reached.
RETRY_AFTER_SECONDS = 5


def handle_database_unavailable(error: OperationalError) -> Any:
    """The database cannot be reached or is busy beyond its timeout: 503, so clients retry, not 500."""
    current_app.logger.error("database unavailable: %s", error)
    response = error_response(
        503,
        "unavailable",
        "the database is unavailable for a moment; nothing was changed, try again shortly",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(TiertraceError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
