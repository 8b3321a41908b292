"""The audit of a programme whose figures overflow the float range: a risk that names the declarations
where the overflow starts, null figures (never Infinity) for that material, the rest exact."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook
from overflow_support import PROGRAM, correct_radar, file_overflow_chain, strict_json

from tiertrace.audit import rules
from tiertrace.audit.exports import export_report
from tiertrace.audit.services import build_report, observatory
from tiertrace.organizations.models import Organization


@pytest.fixture
def chain(make_org, make_payload, submit, materialise):
    chain = file_overflow_chain(make_org, make_payload, submit)
    materialise()
    return chain


def report_of(session, chain):
    return build_report(session, PROGRAM, session.get(Organization, chain.authority.organization.id))


def test_the_report_names_where_the_overflow_starts_first_and_keeps_the_rest_exact(session, chain):
    report = strict_json(json.dumps(report_of(session, chain)))

    first = report["risk"]["ranked"][0]
    assert (first["kind"], first["material"], first["score"], first["rank"]) == (
        "out_of_range",
        "Ga",
        None,
        1,
    )
    # RADAR-1 lists 1e300 of BIG-1 (1e300 g each): the overflow starts there, not in BIG-1, nor in SHIP-1.
    assert first["declarations"] == [
        {
            "declaration_id": chain.radar_part.id,
            "part_number": "RADAR-1",
            "issuer": {"slug": "radar-maker", "name": "Radar Maker GmbH", "country": "DE"},
        }
    ]
    assert report["summary"][0] == (
        "The programme's gallium figures are out of range (beyond the largest number a figure can hold): it "
        "starts in RADAR-1 declared by Radar Maker GmbH (radar-maker, DE). Ask for a corrected declaration."
    )
    materials = report["risk"]["materials"]
    assert materials["Ga"]["out_of_range"] is True
    assert (materials["Ga"]["mass_g"], materials["Ga"]["processing"]["top_country"]) == (None, None)
    assert (materials["Ge"]["out_of_range"], materials["Ge"]["mass_g"]) == (False, 2.0)
    assert materials["Nd"]["mass_g"] == 2e301
    assert report["completeness"]["materials"]["Ga"]["traced_processing"] is None
    assert not any(r["material"] == "Ga" for r in report["risk"]["ranked"][1:])


def test_a_corrected_declaration_clears_the_finding(session, chain, make_payload, submit, materialise):
    correct_radar(chain, make_payload, submit)
    materialise()

    report = report_of(session, chain)
    assert [r for r in report["risk"]["ranked"] if r["kind"] == "out_of_range"] == []
    assert report["risk"]["materials"]["Ga"]["mass_g"] == 2e300


def test_the_exports_leave_an_out_of_range_figure_empty_and_mark_its_row(session, chain):
    report = report_of(session, chain)

    sheets = load_workbook(io.BytesIO(export_report(report, "xlsx").content))
    rows = list(sheets["materials"].iter_rows(values_only=True))
    ga = dict(zip(rows[0], next(row for row in rows if row[0] == "Ga"), strict=True))
    assert (ga["mass_g"], ga["processing_hhi"], ga["out_of_range"]) == (None, None, True)
    ge = dict(zip(rows[0], next(row for row in rows if row[0] == "Ge"), strict=True))
    assert (ge["mass_g"], ge["out_of_range"]) == (2, False)
    risk = list(sheets["risk"].iter_rows(values_only=True))
    assert dict(zip(risk[0], risk[1], strict=True))["declarations"] == chain.radar_part.id
    strict_json(export_report(report, "json").content)


def test_the_observatory_marks_the_material_out_of_range_and_sums_the_others(session, chain):
    figures = observatory(session, session.get(Organization, chain.authority.organization.id))

    strict_json(json.dumps(figures))
    assert (figures["materials"]["Ga"]["out_of_range"], figures["materials"]["Ga"]["mass_g"]) == (True, None)
    assert figures["materials"]["Ga"]["programmes"] == 1
    assert figures["materials"]["Ge"]["mass_g"] == 2.0
    # No country's dependence counts gallium: it has no shares.
    assert all(
        "Ga" not in c[s]["materials"]
        for c in figures["countries"].values()
        for s in ("extraction", "processing")
    )


def test_where_an_overflow_starts_is_where_a_figure_goes_out_of_range_that_no_child_has_out_of_range():
    child = {"Ga": {"mass_g": None, "recycled_g": 0.0, "extraction": {"CN": None, "unknown": 0.0}}}
    parent = {
        "Ga": {"mass_g": None, "recycled_g": 0.0, "extraction": {"CN": None, "unknown": None}},
        "Ge": {"mass_g": None, "recycled_g": 0.0, "extraction": {"unknown": None}},
    }
    assert rules.overflow_start(child, []) == ["Ga"]
    # The parent adds its own overflow of the unknown gallium and of germanium, which no child has.
    assert rules.overflow_start(parent, [child]) == ["Ga", "Ge"]
    assert rules.overflow_start(child, [parent]) == []


def test_roots_each_in_range_can_add_up_beyond_it():
    root = {"Ga": {"mass_g": 1e308, "recycled_g": 0.0, "extraction": {"CN": 1e308, "unknown": 0.0}}}
    total = rules.sum_rollups([root, root])
    assert (total["Ga"]["mass_g"], total["Ga"]["extraction"]) == (None, {"CN": None, "unknown": 0.0})

    ga = rules.material_risk("Ga", total["Ga"], None)
    risk = rules.out_of_range_risk("Ga", "gallium", [])
    assert ga["out_of_range"] and risk["declarations"] == []
    assert risk["sentence"].endswith(
        "the programme's top-level declarations add up beyond it. Ask for a corrected declaration."
    )
