"""API v1: JSON over HTTP with bearer tokens; OpenAPI 3 at /api/v1/openapi.json, docs at /api/v1/docs."""

from __future__ import annotations

from typing import Any

import swagger_ui_bundle
from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, request, send_from_directory
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from portal import errors
from portal.api.parsing import read_body_first
from portal.auth import bearer_token, current_organization
from schemas.api import ErrorSchema


class TiertraceApi(Api):
    """flask-smorest's Api, answering errors in tiertrace's one error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        return errors.handle_http_exception(error)


#: What API v1 serves without a token: the OpenAPI document and the docs page with its assets.
PUBLIC_PATHS = ("/api/v1/openapi.json", "/api/v1/docs")


def is_public(path: str) -> bool:
    """Whether API v1 answers `path` (a URL path, or a path of the OpenAPI document) without a token."""
    return any(path == public or path.startswith(public + "/") for public in PUBLIC_PATHS)


class CommonErrorResponses(BasePlugin):
    """Documents, on every operation of the OpenAPI document, the errors that the API answers alike for
    every endpoint, so that none can leave one out: 401 on each that needs a token (all but PUBLIC_PATHS),
    404 on each whose path names a resource, 400 and 413 on each that takes a body.

    An endpoint that documents one of these itself (`alt_response`, saying what it means there) keeps its own.
    """

    spec: APISpec

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        self.spec = spec

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if path is None or not operations or is_public(path):
            return
        # This plugin runs after the marshmallow one, which has turned the other responses' schemas into
        # references already: it turns this one's the same way.
        resolver = next(p for p in self.spec.plugins if isinstance(p, MarshmallowPlugin)).resolver
        assert resolver is not None  # set by the marshmallow plugin's init_spec
        for operation in operations.values():
            errors = {401: "No token, or one that is not valid (unknown, revoked or expired)"}
            if "{" in path:
                errors[404] = "No such resource, or the caller may not see it"
            if "requestBody" in operation:
                errors[400] = "The body is not JSON, or holds NUL or an unpaired surrogate"
                errors[413] = "The body is larger than the endpoint takes"
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                if status in responses or str(status) in responses:
                    continue
                response = {
                    "description": description,
                    "content": {TiertraceApi.DEFAULT_RESPONSE_CONTENT_TYPE: {"schema": ErrorSchema}},
                }
                resolver.resolve_response(response)
                responses[status] = response
            # By status ("default" last), whichever decorator or this plugin documented each.
            operation["responses"] = dict(
                sorted(responses.items(), key=lambda item: (str(item[0]) == "default", str(item[0])))
            )


api = TiertraceApi(spec_kwargs={"extra_plugins": [CommonErrorResponses()]})

_swagger_assets = Blueprint("swagger_assets", __name__)


@_swagger_assets.route("/api/v1/docs/assets/<path:filename>")
def swagger_asset(filename: str) -> Any:
    # The docs page must work offline: its scripts come from the swagger-ui-bundle package, not a CDN.
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)


def _authenticate_api_call() -> None:
    # The token before anything else: a call without a valid one answers 401 whatever its body or query
    # (the endpoints parse those before their code runs). Endpoints still check what the caller may do.
    # A URL that matches no route (url_rule None) keeps its 404 or 405; OPTIONS reveals nothing.
    path = request.path
    if request.url_rule is None or request.method == "OPTIONS" or not path.startswith("/api/"):
        return
    if is_public(path):
        return
    # The body before the token lookup, whose transaction lasts to the end of the request: on SQLite it
    # holds the process's lock of the database, and a client sending its body slowly would hold up every
    # other request meanwhile (portal.api.parsing). Without a token the answer is 401 at once, unread; a
    # GET's body means nothing here and nothing reads it.
    if bearer_token() is not None and request.method not in ("GET", "HEAD"):
        read_body_first()
    current_organization()


def init_app(app: Flask) -> None:
    from portal.api import audit, chains, declarations, disclosure, keys, notifications, organizations

    app.config.update(
        API_TITLE="tiertrace API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/v1/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {
                # Swagger UI draws this CommonMark at the top of the docs page: the page's way back to the
                # portal, by relative links that work on any host and offline. It opens Markdown links in
                # a new tab; "back" is raw HTML (CommonMark allows it) so that it stays in this one.
                "description": "Signed critical-raw-material declarations, disclosure requests that travel "
                "up the supply chain, and the merged chain view. Authenticate with "
                "`Authorization: Bearer <token>`; create a token in the portal under "
                "[Settings → API tokens](/settings#tokens-title).\n\n"
                '<a href="/">← Back to the tiertrace portal</a>',
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api.init_app(app)
    app.before_request(_authenticate_api_call)
    app.register_blueprint(_swagger_assets)
    for module in (organizations, keys, disclosure, declarations, chains, audit, notifications):
        api.register_blueprint(module.blp)
