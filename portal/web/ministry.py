"""The ministry's pages: every programme's completeness at a glance, the audit report with its exports,
and the observatory (every programme's materials and their countries, with no supplier identity).

The report is `build_report`'s, the files are `export_report`'s: the same as API v1 and `tiertrace audit`.
Every read of a report is audit-logged by the service (the web's reads say `via="web"`); the observatory
is `observatory`'s, the body of `GET /api/v1/observatory`, and each read of it is audit-logged too
(`via="web"`).
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
from tiertrace.audit.rules import export_licensing_since
from tiertrace.audit.services import build_report, list_programs, observatory
from tiertrace.db import begin_snapshot
from tiertrace.declarations.history import require_programme
from tiertrace.exports import FORMATS, MEDIA_TYPES, ExportFile, to_json


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
    begin_snapshot(session)  # every chain of the report as of one committed state
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
    begin_snapshot(session)  # every chain of the report as of one committed state
    report = build_report(session, program, current_org(), via=f"web:{fmt}")
    session.commit()
    return download(export_report(report, fmt))


def dependence_rows(countries: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    """The observatory's country dependence at one stage, as table rows: the countries that supply some
    material at `stage`, the largest supply-risk-weighted share first, then the largest mean share, then
    by code. Each row has the country's figures of that stage and its `materials` as (code, share) pairs,
    the largest share first."""
    rows = []
    for code, entry in countries.items():
        block = entry.get(stage) or {}
        shares = block.get("materials") or {}
        if not shares:
            continue
        rows.append(
            {
                **block,
                "country": code,
                "materials": sorted(shares.items(), key=lambda item: (-item[1], item[0])),
            }
        )
    return sorted(
        rows,
        key=lambda r: (-(r.get("sr_weighted_share") or 0.0), -(r.get("mean_share") or 0.0), r["country"]),
    )


@bp.get("/observatory", endpoint="observatory")
@login_required("authority")
def observatory_page() -> Any:
    """Every programme's materials summed, by mining and refining country, with no supplier identity."""
    session = db_session()
    figures = observatory(session, current_org(), via="web")
    session.commit()  # keeps the audit-log entry of this read (and rollups the service may have stored)
    materials = figures["materials"]
    return render_template(
        "observatory.html",
        figures=figures,
        charts=charts.stacked_charts(
            charts.rollup_from_materials(materials),
            material_names={code: m["name"] for code, m in materials.items()},
            country_names=reference.countries(),
        ),
        dependence={stage: dependence_rows(figures["countries"], stage) for stage in charts.STAGES},
        above_benchmark=[
            code
            for code, m in materials.items()
            if any(m[stage]["above_benchmark"] for stage in charts.STAGES)
        ],
        # The reference's note is free text ("not controlled as element" is a note too): the badge is for
        # the materials whose exports China licenses, read from it as the audit's summary reads it.
        licensed_since={
            code: since
            for code in materials
            if (since := export_licensing_since(reference.materials().get(code))) is not None
        },
        countries=reference.countries(),
    )


@bp.get("/observatory/export.json", endpoint="observatory_export")
@login_required("authority")
def observatory_download() -> Any:
    """The observatory's figures as a JSON download: the body of `GET /api/v1/observatory`."""
    session = db_session()
    figures = observatory(session, current_org(), via="web:json")
    session.commit()
    day = str(figures["generated_at"])[:10]
    return download(ExportFile(to_json(figures), MEDIA_TYPES["json"], f"tiertrace-observatory-{day}.json"))
