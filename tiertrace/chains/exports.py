"""The chain view as files: JSON, CSV and XLSX (`tiertrace.exports`), over the tables below.

Everything comes from the view the viewer got, already redacted by `chain_view`, and nothing from the
database: a supplier the viewer may not learn is in no file, while its figures still count.

Tables: nodes (one row per node, depth first in tree order), rollup (the root's mass per material,
stage and country, "unknown" included), coverage (the root's coverage as field/value rows).

A figure out of range (null in the view: beyond the range of a number) is an empty cell, and the row's
`out_of_range` column says true, so a spreadsheet can filter such rows and still sum the others; in the
coverage table's value column it reads "out of range".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from tiertrace.audit.rules import share
from tiertrace.chains.merge import OUT_OF_RANGE, STAGES, depth_first
from tiertrace.exports import ExportFile, Table, export, filename_part

#: What an undisclosed node says in place of its supplier's name, and its path says for its part number.
UNDISCLOSED = "undisclosed"


def export_chain(view: Mapping[str, Any], fmt: str, day: date) -> ExportFile:
    """The chain view rendered as `fmt` ("json", "csv" or "xlsx"). Raises ValueError for another format.

    Named ``tiertrace-chain-<root part number>-<day>.<fmt>``, with only [A-Za-z0-9._-] in it.
    """
    nodes = view["nodes"]
    part = filename_part(str(nodes[0]["part_number"] if nodes else view["root"]), "chain")
    return export(view, chain_tables, fmt, f"tiertrace-chain-{part}-{day.isoformat()}")


def chain_tables(view: Mapping[str, Any]) -> list[Table]:
    """The chain view as flat tables, in the order the exports list them: nodes, rollup, coverage."""
    coverage = view["coverage"]
    return [
        Table(
            "nodes",
            (
                "node",
                "parent",
                "tier",
                "path",
                "part_number",
                "supplier_slug",
                "supplier_name",
                "supplier_country",
                "quantity",
                "quantity_in_root",
                "unit",
                "kind",
                "gap",
                "declaration_id",
                "out_of_range",
            ),
            [
                _node_row(node, " > ".join(part or UNDISCLOSED for part in path))
                for node, path in depth_first(view["nodes"])
            ],
        ),
        Table(
            "rollup",
            (
                "material",
                "material_mass_g",
                "recycled_g",
                "stage",
                "country",
                "mass_g",
                "share",
                "out_of_range",
            ),
            [
                _rollup_row(code, figures, stage, country, grams)
                for code, figures in view["rollup"].items()
                for stage in STAGES
                for country, grams in figures[stage].items()
            ],
        ),
        Table(
            "coverage",
            ("field", "value"),
            [
                ("root", view["root"]),
                ("components_total", coverage["components_total"]),
                ("components_declared", coverage["components_declared"]),
                ("max_tier", coverage["max_tier"]),
                *(
                    (f"traced_{code}_{stage}", OUT_OF_RANGE if traced[stage] is None else traced[stage])
                    for code, traced in coverage["traced"].items()
                    for stage in STAGES
                ),
                ("nodes_listed", len(view["nodes"])),
                ("truncated", view["truncated"]),
                ("superseded_by", view.get("superseded_by")),
            ],
        ),
    ]


def _node_row(node: Mapping[str, Any], path: str) -> tuple[Any, ...]:
    supplier = node["supplier"] or {}
    return (
        node["id"],
        node["parent"],
        node["tier"],
        path,
        node["part_number"],
        supplier.get("slug"),
        UNDISCLOSED if node["undisclosed"] else supplier.get("name"),
        supplier.get("country"),
        node["quantity"],
        node["quantity_in_root"],
        node["unit"],
        node["kind"],
        node["gap"],
        node["declaration_id"],
        node["quantity_in_root"] is None,
    )


def _rollup_row(
    code: str, figures: Mapping[str, Any], stage: str, country: str, grams: float | None
) -> tuple[Any, ...]:
    mass = figures["mass_g"]
    fraction = None if mass is None or grams is None else share(grams, mass)
    return (
        code,
        mass,
        figures["recycled_g"],
        stage,
        country,
        grams,
        fraction,
        None in (mass, figures["recycled_g"], grams),
    )
