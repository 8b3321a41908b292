"""The ministry's audit: a programme's completeness and risk report (JSON, CSV, XLSX), the observatory."""

from __future__ import annotations

from typing import Any

from portal.api.parsing import Blueprint
from portal.auth import require_kind_to_read
from portal.db import db_session
from portal.files import download
from schemas.api import ErrorSchema
from schemas.audit import AuditQuerySchema, AuditReportSchema, ObservatorySchema, ProgramPageSchema
from tiertrace.audit.exports import export_report
from tiertrace.audit.services import build_report, list_programs, observatory
from tiertrace.db import begin_snapshot
from tiertrace.exports import MEDIA_TYPES

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1",
    description="The ministry's audit: completeness and risk per programme, the materials observatory",
)


@blp.get("/audit/programs")
@blp.response(200, ProgramPageSchema)
@blp.alt_response(404, schema=ErrorSchema, description="The caller is not the authority")
def programs() -> dict[str, Any]:
    """Every programme with its completeness at a glance (authority only)."""
    return {"items": list_programs(db_session(), require_kind_to_read("authority")), "next": None}


#: The 200 of a programme's report, in any of its formats.
REPORT = "The report (JSON); with ?format=csv or ?format=xlsx, the same report as an attachment"


@blp.get("/audit/programs/<path:program>")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditReportSchema, description=REPORT)
# The same status, other media types: flask-smorest merges them into the one 200 (a `doc(responses=...)`
# would replace the JSON report's instead).
@blp.alt_response(
    200, schema={"type": "string"}, content_type=MEDIA_TYPES["csv"], description=REPORT, success=True
)
@blp.alt_response(
    200,
    schema={"type": "string", "format": "binary"},
    content_type=MEDIA_TYPES["xlsx"],
    description=REPORT,
    success=True,
)
@blp.alt_response(
    404,
    schema=ErrorSchema,
    description="No current declaration carries this programme, or the caller is not the authority",
)
def report(query: dict[str, Any], program: str) -> Any:
    """The completeness and risk report of a programme (authority only); every read is audit-logged."""
    viewer = require_kind_to_read("authority")
    session = db_session()
    begin_snapshot(session)  # every chain of the report as of one committed state
    built = build_report(session, program, viewer, via=f"api:{query['format']}")
    session.commit()
    if query["format"] == "json":
        return built
    return download(export_report(built, query["format"]))


@blp.get("/observatory")
@blp.response(200, ObservatorySchema)
@blp.alt_response(404, schema=ErrorSchema, description="The caller is not the authority")
def observatory_view() -> dict[str, Any]:
    """Cross-programme figures per material and country, with no supplier identity (authority only)."""
    viewer = require_kind_to_read("authority")
    session = db_session()
    figures = observatory(session, viewer)
    session.commit()
    return figures
