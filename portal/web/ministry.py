"""The ministry's pages: every programme's completeness at a glance, and the audit report with its exports.

The report is `build_report`'s, the files are `export_report`'s: the same as API v1 and `tiertrace audit`.
Every read of a report is audit-logged by the service (the web's reads say `via="web"`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import abort, render_template

from portal.db import db_session
from portal.files import download
from portal.web import charts
from portal.web.base import bp, current_org, login_required
from tiertrace import reference
from tiertrace.audit.exports import export_report
from tiertrace.audit.services import build_report, list_programs
from tiertrace.declarations.history import require_programme
from tiertrace.exports import FORMATS


@bp.get("/audit")
@login_required("authority")
def audit_index() -> Any:
    """Every programme with its completeness at a glance."""
    session = db_session()
    programs = list_programs(session, current_org())
    session.commit()  # the service may have stored rollups that were missing
    return render_template("audit_index.html", programs=programs)


def overdue_list(report: dict[str, Any], today: date) -> list[dict[str, Any]]:
    """The report's gaps whose request is overdue (by status or by a due date that has passed)."""
    late = []
    for gap in report.get("gaps", []):
        request = gap.get("request") or {}
        due = request.get("due_date")
        passed = bool(due) and str(due) < today.isoformat() and request.get("status") == "open"
        if gap.get("kind") == "overdue" or request.get("status") == "overdue" or passed:
            late.append(gap)
    return sorted(late, key=lambda g: str((g.get("request") or {}).get("due_date") or ""))


@bp.get("/audit/<path:program>")
@login_required("authority")
def audit(program: str) -> Any:
    """The audit report of a programme: summary, completeness, charts, heat maps, overdue list, exports."""
    session = db_session()
    report = build_report(session, program, current_org(), via="web")
    roots = require_programme(session, current_org(), program).roots  # for the links to their chains
    session.commit()  # keeps the audit-log entries of this read
    rollup = charts.rollup_from_report(report)
    material_names = {code: m.name for code, m in reference.materials().items()}
    countries = reference.countries()
    return render_template(
        "audit.html",
        report=report,
        roots=roots,
        charts=charts.stacked_charts(rollup, material_names=material_names, country_names=countries),
        heat_maps=[charts.heat_map(rollup, stage) for stage in charts.STAGES],
        overdue=overdue_list(report, datetime.now(UTC).date()),
        formats=FORMATS,
        countries=countries,
        material_names=material_names,
    )


@bp.get("/audit/export/<fmt>/<path:program>")
@login_required("authority")
def audit_export(fmt: str, program: str) -> Any:
    """The report as a JSON, CSV or XLSX download."""
    if fmt not in FORMATS:
        abort(404)
    session = db_session()
    report = build_report(session, program, current_org(), via=f"web:{fmt}")
    session.commit()
    return download(export_report(report, fmt))
