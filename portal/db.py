"""One database session per HTTP request; the request commits once, at the end, if it succeeded."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_close_session)


def db_session() -> Session:
    """The request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["tiertrace"].session_factory()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back whatever was not committed
