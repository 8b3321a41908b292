"""API v1: JSON over HTTP with bearer tokens; OpenAPI 3 at /api/v1/openapi.json, docs at /api/v1/docs."""

from __future__ import annotations

from typing import Any

import swagger_ui_bundle
from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from portal import errors
from schemas.api import ErrorSchema


class TiertraceApi(Api):
    """flask-smorest's Api, answering errors in tiertrace's one error shape."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException) -> Any:
        return errors.handle_http_exception(error)


api = TiertraceApi()

_swagger_assets = Blueprint("swagger_assets", __name__)


@_swagger_assets.route("/api/v1/docs/assets/<path:filename>")
def swagger_asset(filename: str) -> Any:
    # The docs page must work offline: its scripts come from the swagger-ui-bundle package, not a CDN.
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=3600)


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
                "description": "Signed critical-raw-material declarations, disclosure requests that travel "
                "up the supply chain, and the merged chain view. Authenticate with "
                "`Authorization: Bearer <token>`.",
            },
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api.init_app(app)
    app.register_blueprint(_swagger_assets)
    for module in (organizations, keys, disclosure, declarations, chains, audit, notifications):
        api.register_blueprint(module.blp)
