"""Probes for load balancers and orchestrators: /healthz (the process answers) and /readyz (it can work).

Neither needs a token nor says anything about the data: a probe must not depend on, or reveal, who calls.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from portal.db import db_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process serves requests (restart it when this stops answering)."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: the database answers a query (send no traffic while this says 503).

    A database that cannot be reached raises OperationalError, which the portal answers with 503.
    """
    db_session().execute(text("SELECT 1"))
    return {"status": "ready"}
