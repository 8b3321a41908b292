"""The chain view's tables and files, from a view built by hand (no database)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from tiertrace.chains.exports import chain_tables, export_chain

YARD = {"slug": "yard", "name": "Yard", "country": "NL"}
LUMEN = {"slug": "lumen", "name": "Lumen Compound GmbH", "country": "DE"}
FOIL = {"slug": None, "name": "@Foil SA", "country": "LU"}


def node(**fields):
    """A view node: a declaration of a part counted in pieces with nobody named, unless `fields` say
    otherwise."""
    defaults = {
        "kind": "declaration",
        "declaration_id": None,
        "gap": None,
        "supplier": None,
        "undisclosed": False,
    }
    return {**defaults, "quantity": 1, "quantity_in_root": 1, "unit": "piece", "rollup": {}, **fields}


VIEW = {
    "root": "root-id",
    "rollup": {
        "Ga": {
            "mass_g": 2.0,
            "recycled_g": 0.5,
            "extraction": {"CN": 1.5, "unknown": 0.5},
            "processing": {"unknown": 2.0},
        },
        "Nd": {
            "mass_g": 0.0,
            "recycled_g": 0.0,
            "extraction": {"unknown": 0.0},
            "processing": {"unknown": 0.0},
        },
    },
    "coverage": {
        "components_total": 4,
        "components_declared": 2,
        "max_tier": 2,
        "traced": {
            "Ga": {"extraction": 0.75, "processing": 0.0},
            "Nd": {"extraction": 1.0, "processing": 1.0},
        },
    },
    # Breadth first, as chain_view lists them.
    "nodes": [
        node(
            id="n0",
            parent=None,
            tier=0,
            part_number="SHIP 1/2",
            unit="ship",
            supplier=YARD,
            declaration_id="root-id",
        ),
        node(id="n1", parent="n0", tier=1, part_number="TRM-2040", supplier=LUMEN, declaration_id="trm-id"),
        node(
            id="n2",
            parent="n0",
            tier=1,
            part_number="=1+1",
            supplier=FOIL,
            unit=None,
            kind="gap",
            gap="unknown_supplier",
        ),
        node(
            id="n3",
            parent="n1",
            tier=2,
            part_number=None,
            unit=None,
            undisclosed=True,
            quantity=2,
            quantity_in_root=8,
        ),
        node(
            id="n4", parent="n1", tier=2, part_number="CAP-7", unit=None, kind="gap", gap="unknown_supplier"
        ),
    ],
    "truncated": False,
}


def test_the_nodes_are_listed_depth_first_with_their_paths_and_suppliers():
    nodes = chain_tables(VIEW)[0]
    rows = [dict(zip(nodes.columns, row, strict=True)) for row in nodes.rows]
    assert [(r["node"], r["path"]) for r in rows] == [
        ("n0", "SHIP 1/2"),
        ("n1", "SHIP 1/2 > TRM-2040"),
        ("n3", "SHIP 1/2 > TRM-2040 > undisclosed"),
        ("n4", "SHIP 1/2 > TRM-2040 > CAP-7"),
        ("n2", "SHIP 1/2 > =1+1"),
    ]
    assert (rows[1]["supplier_slug"], rows[1]["supplier_name"], rows[1]["declaration_id"]) == (
        "lumen",
        "Lumen Compound GmbH",
        "trm-id",
    )
    hidden = rows[2]
    assert (hidden["supplier_slug"], hidden["supplier_name"], hidden["part_number"]) == (
        None,
        "undisclosed",
        None,
    )
    assert (rows[3]["supplier_name"], rows[3]["gap"], rows[3]["parent"]) == (None, "unknown_supplier", "n1")


def test_every_node_row_says_what_one_unit_of_its_part_is():
    nodes = chain_tables(VIEW)[0]
    rows = [dict(zip(nodes.columns, row, strict=True)) for row in nodes.rows]

    assert nodes.columns.index("unit") == nodes.columns.index("quantity_in_root") + 1
    assert [(r["node"], r["quantity"], r["unit"]) for r in rows] == [
        ("n0", 1, "ship"),
        ("n1", 1, "piece"),
        ("n3", 2, None),  # undisclosed
        ("n4", 1, None),  # gaps
        ("n2", 1, None),
    ]
    lines = list(csv.reader(io.StringIO(export_chain(VIEW, "csv", date(2025, 3, 9)).content.decode())))
    assert lines[0] == ["[nodes]"]
    column = lines[1].index("unit")
    assert [line[column] for line in lines[2:7]] == ["ship", "piece", "", "", ""]
    sheet = load_workbook(io.BytesIO(export_chain(VIEW, "xlsx", date(2025, 3, 9)).content))["nodes"]
    column = [cell.value for cell in sheet[1]].index("unit")
    assert [row[column] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        "ship",
        "piece",
        None,
        None,
        None,
    ]


def test_the_rollup_and_coverage_tables():
    _, rollup, coverage = chain_tables(VIEW)
    assert rollup.rows[:3] == [
        ("Ga", 2.0, 0.5, "extraction", "CN", 1.5, 0.75, False),
        ("Ga", 2.0, 0.5, "extraction", "unknown", 0.5, 0.25, False),
        ("Ga", 2.0, 0.5, "processing", "unknown", 2.0, 1.0, False),
    ]
    assert rollup.rows[3] == ("Nd", 0.0, 0.0, "extraction", "unknown", 0.0, 0.0, False)  # no mass, no share
    fields = dict(coverage.rows)
    assert (
        fields["root"],
        fields["components_total"],
        fields["components_declared"],
        fields["max_tier"],
    ) == (
        "root-id",
        4,
        2,
        2,
    )
    assert (fields["traced_Ga_extraction"], fields["nodes_listed"], fields["truncated"]) == (0.75, 5, False)


def test_the_files_are_named_after_the_root_part_and_keep_formulas_text():
    csv_file = export_chain(VIEW, "csv", date(2025, 3, 9))
    assert csv_file.filename == "tiertrace-chain-SHIP_1_2-2025-03-09.csv"
    assert csv_file.media_type == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8"))))
    assert [row[0] for row in rows if len(row) == 1] == ["[nodes]", "[rollup]", "[coverage]"]
    assert "'=1+1" in rows[rows.index(["[nodes]"]) + 6] and "'@Foil SA" in rows[rows.index(["[nodes]"]) + 6]

    workbook = load_workbook(io.BytesIO(export_chain(VIEW, "xlsx", date(2025, 3, 9)).content))
    assert workbook.sheetnames == ["nodes", "rollup", "coverage"]
    foil = workbook["nodes"]["E6"]
    assert (foil.value, foil.data_type) == ("=1+1", "s")
    assert workbook["rollup"]["G2"].number_format == "0.0%"

    assert export_chain(VIEW, "json", date(2025, 3, 9)).content.startswith(b'{\n  "root": "root-id"')
    with pytest.raises(ValueError, match="format must be one of"):
        export_chain(VIEW, "pdf", date(2025, 3, 9))
