"""The web portal: server-rendered pages for suppliers, OEMs and the ministry, on the core's services.

Views per audience: `auth` (login, invitations), `supplier` (inbox, editor, history), `notifications`
(a company's notifications), `oem` (programmes and chain trees), `ministry` (audit), `settings` (tokens,
keys, password). Every asset is served from `static/`; nothing comes from another site. The API
(`portal.api`) is unaffected: it uses bearer tokens, never the session cookie, so it needs no CSRF token.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import NotFound

from portal import errors
from portal.web.base import (
    WebSessionInterface,
    bp,
    csrf_token,
    error_page,
    is_api_path,
    refuse_nul,
    security_headers,
)
from portal.web.forms import field_label


def init_app(app: Flask) -> None:
    """Register the pages and the session settings they rely on."""
    from portal.web import (  # noqa: F401  (each adds its routes to `bp`)
        auth,
        ministry,
        notifications,
        oem,
        settings,
        supplier,
    )

    app.config.update(
        SESSION_COOKIE_NAME="tiertrace_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # A session lasts 12 hours from the last page seen; the cookie is signed with TIERTRACE_SECRET_KEY
        # and its age is checked on the server (itsdangerous timestamps), not only by the browser.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.session_interface = WebSessionInterface()
    # A global, not a context variable: templates imported as macro libraries see globals only.
    app.add_template_global(csrf_token)
    app.add_template_filter(field_label)
    app.register_blueprint(bp)
    # App-wide, not the blueprint's: the API, the health checks and unmatched URLs get them too.
    app.before_request(refuse_nul)
    app.after_request(security_headers)
    # A URL that matches no route has no blueprint, so the blueprint's handler never sees it: pages get an
    # HTML 404, the API keeps its JSON one.
    app.register_error_handler(NotFound, _not_found)


def _not_found(error: NotFound) -> Any:
    if is_api_path(request.path):
        return errors.handle_http_exception(error)
    return error_page(404, "Not found", "There is no such page, or it is not yours to see.")
