"""The Flask portal: API v1 (JSON, OpenAPI) and the web pages, on the core's services."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory


@dataclass
class PortalState:
    """What the portal keeps in `app.extensions["tiertrace"]`."""

    settings: Settings
    session_factory: sessionmaker[Session]


def current_settings() -> Settings:
    """The settings of the portal handling the current request."""
    state: PortalState = current_app.extensions["tiertrace"]
    return state.settings


def create_app(
    settings: Settings | None = None, *, session_factory: sessionmaker[Session] | None = None
) -> Flask:
    """Build the portal. The database must be migrated already (`tiertrace db upgrade`)."""
    from portal import api, db, errors, health, web

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        JSON_SORT_KEYS=False,
        # Declarations are limited to 1 MiB (413 from the declarations endpoint with a JSON body);
        # this cap only protects the other endpoints from absurd bodies.
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider has it
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.database_url))
    app.extensions["tiertrace"] = PortalState(settings=settings, session_factory=session_factory)
    db.init_app(app)
    errors.init_app(app)
    api.init_app(app)
    web.init_app(app)
    app.register_blueprint(health.bp)
    if settings.trusted_proxies:
        # The client address (the per-address login limit) from X-Forwarded-For, as far as the trusted
        # proxies vouch for it: each appends the address it saw, so the Nth entry from the right.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    return app
