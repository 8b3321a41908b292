"""The audit report as files: JSON, CSV and XLSX (`tiertrace.exports`), over the tables below.

Tables, named after the report's parts (DESIGN: program, roots, completeness, risk, gaps, summary):
report (program, roots, when and from what data, field/value), summary, completeness (the totals,
field/value), risk (the ranked risks), materials, country_shares, countries, facilities, tiers,
branches, gaps, declarations.

A figure out of range (null in the report) is an empty cell, and the row's `out_of_range` column says
true; the risk of a material out of range lists the declarations where it starts in `declarations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tiertrace.chains.merge import GAP_KINDS, STAGES
from tiertrace.exports import ExportFile, Table, export, filename_part


def export_report(report: Mapping[str, Any], fmt: str) -> ExportFile:
    """The report rendered as `fmt` ("json", "csv" or "xlsx"). Raises ValueError for another format.

    Named ``tiertrace-audit-<programme>-<YYYY-MM-DD>.<fmt>``, with only [A-Za-z0-9._-] in it.
    """
    program = filename_part(str(report["program"]), "programme")
    return export(report, report_tables, fmt, f"tiertrace-audit-{program}-{str(report['generated_at'])[:10]}")


# --- the tables ------------------------------------------------------------------------------------------


def report_tables(report: Mapping[str, Any]) -> list[Table]:
    """The report as flat tables, in the order the exports list them.

    report, summary, completeness, risk, materials, country_shares, countries, facilities, tiers,
    branches, gaps, declarations.
    """
    completeness = report["completeness"]
    risk = report["risk"]
    vintage = report.get("vintage", {})
    requests = completeness["requests"]
    overview = [
        ("program", report["program"]),
        ("generated_at", report["generated_at"]),
        ("roots", " ".join(report["roots"])),
        ("declarations_issued_from", vintage.get("issued_from")),
        ("declarations_issued_to", vintage.get("issued_to")),
        ("rollups_computed_at", vintage.get("rollups_computed_at")),
        *((f"reference_{key}", value) for key, value in vintage.get("reference", {}).items()),
    ]
    totals = [
        ("components_total", completeness["components_total"]),
        ("components_declared", completeness["components_declared"]),
        ("share_declared", completeness["share_declared"]),
        ("max_tier", completeness["max_tier"]),
        *(
            (f"requests_{name}", requests[name])
            for name in ("sent", "answered", "declined", "open", "overdue")
        ),
        ("response_rate", requests["response_rate"]),
        *((f"gaps_{kind}", completeness["gaps"].get(kind, 0)) for kind in GAP_KINDS),
        ("tree_truncated", completeness["truncated"]),
    ]
    stage_columns = tuple(
        f"{stage}_{name}"
        for stage in STAGES
        for name in ("top_country", "top_share", "hhi", "unknown_share", "above_benchmark")
    )
    return [
        Table("report", ("field", "value"), overview),
        Table("summary", ("rank", "sentence"), list(enumerate(report["summary"], start=1))),
        Table("completeness", ("field", "value"), totals),
        Table(
            "risk",
            (
                "rank",
                "kind",
                "material",
                "stage",
                "country",
                "facility",
                "share",
                "hhi",
                "score",
                "sentence",
                "declarations",
            ),
            [
                (
                    r["rank"],
                    r["kind"],
                    r["material"],
                    r["stage"],
                    r.get("country"),
                    r.get("facility"),
                    r["share"],
                    r.get("hhi"),
                    r["score"],
                    r["sentence"],
                    " ".join(d["declaration_id"] for d in r.get("declarations", [])) or None,
                )
                for r in risk["ranked"]
            ],
        ),
        Table(
            "materials",
            (
                "material",
                "name",
                "strategic",
                "critical",
                "supply_risk",
                "main_stage",
                "export_control",
                "mass_g",
                "recycled_share",
                *stage_columns,
                "traced_processing",
                "traced_extraction",
                "traced_facility",
                "single_facility",
                "out_of_range",
            ),
            [
                (
                    code,
                    m["name"],
                    m["strategic"],
                    m["critical"],
                    m["supply_risk"],
                    m["main_stage"],
                    m["export_control"],
                    m["mass_g"],
                    m["recycled_share"],
                    *(
                        m[stage][name]
                        for stage in STAGES
                        for name in ("top_country", "top_share", "hhi", "unknown_share", "above_benchmark")
                    ),
                    m["processing"]["traced_share"],
                    m["extraction"]["traced_share"],
                    m["facility_traced_share"],
                    m["single_facility"],
                    m["out_of_range"],
                )
                for code, m in risk["materials"].items()
            ],
        ),
        Table(
            "country_shares",
            ("material", "stage", "country", "mass_g", "share"),
            [
                (code, stage, country, f["mass_g"], f["share"])
                for code, m in risk["materials"].items()
                for stage in STAGES
                for country, f in m[stage]["countries"].items()
            ],
        ),
        Table(
            "countries",
            (
                "country",
                "name",
                "stage",
                "material_count",
                "top_in",
                "above_benchmark_in",
                "mean_share",
                "sr_weighted_share",
                "mass_g",
            ),
            [
                (
                    country,
                    c["name"],
                    stage,
                    c[stage]["material_count"],
                    " ".join(c[stage]["top_in"]),
                    " ".join(c[stage]["above_benchmark_in"]),
                    c[stage]["mean_share"],
                    c[stage]["sr_weighted_share"],
                    c[stage]["mass_g"],
                )
                for country, c in risk["countries"].items()
                for stage in STAGES
                if c[stage]["material_count"]
            ],
        ),
        Table(
            "facilities",
            ("material", "facility", "mass_g", "share", "share_of_named", "single_facility"),
            [
                (code, name, f["mass_g"], f["share"], f["share_of_named"], m["single_facility"] == name)
                for code, m in risk["materials"].items()
                for name, f in m["facilities"].items()
            ],
        ),
        Table(
            "tiers",
            (
                "tier",
                "components",
                "declared",
                "share_declared",
                *(f"gaps_{kind}" for kind in GAP_KINDS),
                "requests_sent",
                "requests_answered",
                "requests_declined",
                "requests_open",
                "requests_overdue",
                "response_rate",
            ),
            [
                (
                    t["tier"],
                    t["components"],
                    t["declared"],
                    t["share_declared"],
                    *(t["gaps"].get(kind, 0) for kind in GAP_KINDS),
                    *(t["requests"][name] for name in ("sent", "answered", "declined", "open", "overdue")),
                    t["response_rate"],
                )
                for t in completeness["tiers"]
            ],
        ),
        Table(
            "branches",
            (
                "root",
                "part_number",
                *_organization_columns("supplier"),
                "status",
                "deepest_tier",
                "components_total",
                "components_declared",
                "share_declared",
            ),
            [
                (
                    b["root"],
                    b["part_number"],
                    *_organization(b["supplier"]),
                    b["gap"] or "declared",
                    b["deepest_tier"],
                    b["components_total"],
                    b["components_declared"],
                    b["share_declared"],
                )
                for b in completeness["branches"]
            ],
        ),
        Table(
            "gaps",
            (
                "root",
                "tier",
                "path",
                "part_number",
                "kind",
                *_organization_columns("supplier"),
                *_organization_columns("listed_by"),
                "quantity_in_root",
                "request_id",
                "request_status",
                "due_date",
                "requested_at",
                "overdue_at",
                "reminded_at",
                "escalated_at",
                "decline_reason",
                "out_of_range",
            ),
            [
                (
                    g["root"],
                    g["tier"],
                    " > ".join(str(p) for p in g["path"]),
                    g["part_number"],
                    g["kind"],
                    *_organization(g["supplier"]),
                    *_organization(g["listed_by"]),
                    g["quantity_in_root"],
                    *_request(g["request"]),
                    g["quantity_in_root"] is None,
                )
                for g in report["gaps"]
            ],
        ),
        Table(
            "declarations",
            ("id", "issuer", "part_number", "issued_at", "accepted_at", "supersedes"),
            [
                (d["id"], d["issuer"], d["part_number"], d["issued_at"], d["accepted_at"], d["supersedes"])
                for d in vintage.get("declarations", [])
            ],
        ),
    ]


def _organization_columns(prefix: str) -> tuple[str, str, str]:
    return (f"{prefix}_slug", f"{prefix}_name", f"{prefix}_country")


def _organization(organization: Mapping[str, Any] | None) -> tuple[Any, Any, Any]:
    if not organization:
        return (None, None, None)
    return (organization.get("slug"), organization.get("name"), organization.get("country"))


def _request(request: Mapping[str, Any] | None) -> Sequence[Any]:
    keys = (
        "id",
        "status",
        "due_date",
        "created_at",
        "overdue_at",
        "reminded_at",
        "escalated_at",
        "decline_reason",
    )
    if request is None:
        return (None,) * len(keys)
    return tuple(request.get(key) for key in keys)
