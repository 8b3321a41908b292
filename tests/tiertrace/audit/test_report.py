"""The report through the real services: declarations filed, requests made, the sweep and the merge run."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tiertrace.audit.models import AuditLogEntry
from tiertrace.audit.services import (
    REPORT_READ,
    build_report,
    console_viewer,
    list_programs,
    observatory,
)
from tiertrace.chains.services import chain_tree, chain_view
from tiertrace.errors import ForbiddenError, NotFoundError
from tiertrace.organizations.models import Organization


def viewer_of(session, member):
    return session.get(Organization, member.organization.id)


def report_of(session, frigate, program="ZEEHAVIK"):
    return build_report(session, program, viewer_of(session, frigate.authority), now=frigate.later)


def test_the_report_has_design_md_keys_and_names_the_programme_roots(session, frigate):
    report = report_of(session, frigate)
    assert {"program", "roots", "completeness", "risk", "gaps", "summary", "generated_at", "vintage"} <= set(
        report
    )
    assert report["program"] == "ZEEHAVIK"
    assert report["roots"] == [frigate.root.id]
    assert report["generated_at"] == frigate.later.isoformat()
    json.dumps(report)  # JSON-ready as it is


def test_risk_figures_come_from_the_merged_chain(session, frigate):
    materials = report_of(session, frigate)["risk"]["materials"]
    # 10 TRM x 4 MMIC x 0.3125 g = 12.5 g Ga: 98 % refined in CN (HHI 9,604), 80 % mined there.
    ga = materials["Ga"]
    assert ga["mass_g"] == 12.5
    assert ga["processing"]["countries"] == {
        "CN": {"mass_g": 12.25, "share": 0.98},
        "unknown": {"mass_g": 0.25, "share": 0.02},
    }
    assert (ga["processing"]["hhi"], ga["processing"]["above_benchmark"]) == (9_604, True)
    assert (ga["extraction"]["hhi"], ga["extraction"]["top_share"]) == (6_400, 0.8)
    assert (ga["single_facility"], ga["covers_all_traced_processing"]) == ("Jinlu refinery", True)
    # 10 TRM x 2 g W: refined CN 70 % / AT 30 % (HHI 4,900 + 900), mined CN 50 %, the rest unknown.
    w = materials["W"]
    assert w["mass_g"] == 20.0
    assert (w["processing"]["hhi"], w["processing"]["top_country"], w["processing"]["top_share"]) == (
        5_800,
        "CN",
        0.7,
    )
    assert (w["extraction"]["unknown_share"], w["single_facility"]) == (0.5, None)


def test_completeness_counts_tiers_requests_and_branches_of_the_filed_programme(session, frigate):
    completeness = report_of(session, frigate)["completeness"]
    assert (
        completeness["components_total"],
        completeness["components_declared"],
        completeness["max_tier"],
    ) == (
        6,
        3,
        3,
    )
    tiers = {t["tier"]: t for t in completeness["tiers"]}
    # Tier 1: the OEM asked the radar maker (answered) and the caser (declined); the foil has no slug.
    assert (tiers[1]["components"], tiers[1]["declared"]) == (3, 1)
    assert tiers[1]["requests"] == {"sent": 2, "answered": 1, "declined": 1, "open": 0, "overdue": 0}
    assert tiers[1]["response_rate"] == 1.0
    # Tier 2: the radar maker asked the riveter, who never answered: overdue after the sweep.
    assert tiers[2]["requests"] == {"sent": 1, "answered": 0, "declined": 0, "open": 0, "overdue": 1}
    assert tiers[2]["response_rate"] == 0.0
    assert tiers[3]["requests"]["sent"] == 0
    branches = {b["part_number"]: b for b in completeness["branches"]}
    assert (branches["TRM-2040"]["deepest_tier"], branches["CASE-1"]["deepest_tier"]) == (3, None)
    assert completeness["materials"]["Ga"] == {
        "mass_g": 12.5,
        "traced_processing": 0.98,
        "traced_extraction": 0.8,
        "traced_facility": 0.98,
    }


def test_gaps_name_their_supplier_position_and_the_overdue_request(session, frigate):
    gaps = {g["part_number"]: g for g in report_of(session, frigate)["gaps"]}
    assert set(gaps) == {"FOIL-2", "CASE-1", "HOUSING-3"}
    housing = gaps["HOUSING-3"]
    assert (housing["kind"], housing["tier"], housing["path"]) == (
        "overdue",
        2,
        ["ZEEHAVIK-1", "TRM-2040", "HOUSING-3"],
    )
    assert housing["supplier"] == {"slug": "rivet-works", "name": "Rivet Works", "country": "PL"}
    assert housing["listed_by"]["slug"] == "helder-sensors"
    assert housing["request"]["id"] == frigate.requests["housing"]
    assert housing["request"]["overdue_at"] == frigate.later.isoformat()
    assert gaps["CASE-1"]["request"]["decline_reason"] == "export control"
    assert gaps["FOIL-2"]["supplier"] == {"slug": None, "name": "Moselle Foil SA", "country": "LU"}


def test_the_summary_leads_with_the_gallium_refining_concentration(session, frigate):
    summary = report_of(session, frigate)["summary"]
    assert len(summary) == 5
    assert summary[0] == (
        "98 % of the programme's gallium is refined in China (HHI 9,604); "
        "China has licensed gallium exports since 2023-08."
    )
    assert "3 of the programme's 6 component lines (50 %) are not declared" in " ".join(summary)


def test_an_answer_to_the_overdue_request_closes_its_gap(
    session_factory, frigate, make_payload, submit, materialise
):
    submit(
        frigate.riveter, make_payload("rivet-works", "HOUSING-3", in_response_to=frigate.requests["housing"])
    )
    materialise()
    with session_factory() as session:
        report = report_of(session, frigate)
    assert "HOUSING-3" not in {g["part_number"] for g in report["gaps"]}
    tier_2 = report["completeness"]["tiers"][1]
    assert (tier_2["declared"], tier_2["requests"]["answered"], tier_2["requests"]["overdue"]) == (2, 1, 0)


def test_the_vintage_names_the_declaration_versions_the_figures_use(
    session_factory, frigate, make_payload, submit, materialise
):
    newer = submit(
        frigate.smelter,
        make_payload(
            "jinlu-gallium",
            "GA-7N",
            supersedes=frigate.ga.id,
            materials=[
                {
                    "material": "Ga",
                    "mass_g": 0.3125,
                    "extraction": [{"country": "AU", "share": 1.0}],
                    "processing": [{"country": "JP", "share": 1.0}],
                }
            ],
        ),
    )
    materialise()
    with session_factory() as session:
        report = report_of(session, frigate)
    used = {d["id"] for d in report["vintage"]["declarations"]}
    assert newer.id in used and frigate.ga.id not in used
    assert {frigate.root.id, frigate.trm.id, frigate.mmic.id} <= used
    assert report["vintage"]["reference"]["supply_risk"].startswith("EU CRM study 2023")
    assert report["risk"]["materials"]["Ga"]["processing"]["top_country"] == "JP"


def test_a_supplier_declaration_carrying_the_programme_name_is_no_root(
    session_factory, frigate, make_payload, submit, materialise
):
    submit(
        frigate.fab,
        make_payload(
            "lumen-compound", "MMIC-7", supersedes=frigate.mmic.id, program="ZEEHAVIK", components=[]
        ),
    )
    materialise()
    with session_factory() as session:
        assert report_of(session, frigate)["roots"] == [frigate.root.id]


def test_every_report_read_is_audit_logged(session, frigate):
    report_of(session, frigate)
    build_report(session, "ZEEHAVIK", console_viewer(), now=frigate.later, via="cli:tester")
    entries = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == REPORT_READ)).all()
    assert [(e.organization_id, e.subject, e.details["via"]) for e in entries] == [
        (frigate.authority.organization.id, "ZEEHAVIK", "api"),
        (None, "ZEEHAVIK", "cli:tester"),
    ]
    assert entries[0].details["roots"] == [frigate.root.id]


@pytest.mark.parametrize("who", ["oem", "radar"])
def test_only_the_authority_may_read_a_report(session, frigate, who):
    with pytest.raises(ForbiddenError):
        build_report(session, "ZEEHAVIK", viewer_of(session, getattr(frigate, who)))


def test_an_unknown_programme_is_not_found(session, frigate):
    with pytest.raises(NotFoundError):
        report_of(session, frigate, program="NO-SUCH-SHIP")


def test_the_programme_list_gives_completeness_at_a_glance(session, frigate):
    assert list_programs(session, viewer_of(session, frigate.authority)) == [
        {
            "program": "ZEEHAVIK",
            "roots": [frigate.root.id],
            "components_total": 6,
            "components_declared": 3,
            "share_declared": 0.5,
            "max_tier": 3,
            "gaps": {"declined": 1, "overdue": 1, "unknown_supplier": 1},
        }
    ]


def test_the_programme_list_gives_gap_kinds_in_the_reports_order_whatever_the_database_stored(
    session, make_org, make_payload, submit, materialise
):
    # PostgreSQL's JSONB keeps a rollup's gap counts sorted by key length, SQLite by name: neither is the
    # order the report lists gap kinds in (tiertrace.chains.merge.GAP_KINDS).
    oem = make_org("noordhaven")
    supplier = make_org("helder-sensors")
    authority = make_org("ministry", kind="authority")
    submit(
        oem,
        make_payload(
            oem.slug,
            "PATROL-1",
            program="PATROL",
            components=[
                {"part_number": "NOT-ASKED", "supplier": supplier.slug, "quantity": 1},
                {"part_number": "FOIL-2", "supplier": None, "supplier_name": "Foil SA", "quantity": 1},
                {"part_number": "ASK", "supplier": supplier.slug, "quantity": 1, "request_disclosure": True},
            ],
        ),
    )
    materialise()
    [program] = list_programs(session, viewer_of(session, authority))
    assert list(program["gaps"].items()) == [("open", 1), ("unknown_supplier", 1), ("not_requested", 1)]


def test_the_observatory_aggregates_without_any_supplier_identity(session, frigate):
    figures = observatory(session, viewer_of(session, frigate.authority), now=frigate.later)
    assert figures["programmes"] == 1
    assert figures["materials"]["Ga"]["processing"]["countries"]["CN"] == {"mass_g": 12.25, "share": 0.98}
    text = json.dumps(figures)
    members = (frigate.oem, frigate.radar, frigate.fab, frigate.smelter, frigate.riveter, frigate.caser)
    identities = [m.slug for m in members] + [m.organization.name for m in members]
    identities += [
        frigate.root.id,
        frigate.trm.id,
        frigate.mmic.id,
        frigate.ga.id,
        "Jinlu refinery",
        "ZEEHAVIK",
    ]
    assert [i for i in identities if i in text] == []
    with pytest.raises(ForbiddenError):
        observatory(session, viewer_of(session, frigate.oem))


def test_the_report_tree_lists_the_nodes_of_the_authoritys_chain_view(
    session_factory, frigate, make_payload, submit, materialise
):
    # Make the gallium smelter list the chip as a component: MMIC -> GA -> MMIC is a cycle.
    submit(
        frigate.smelter,
        make_payload(
            "jinlu-gallium",
            "GA-7N",
            supersedes=frigate.ga.id,
            components=[{"part_number": "MMIC-7", "supplier": "lumen-compound", "quantity": 1}],
        ),
    )
    materialise()
    with session_factory() as session:
        authority = viewer_of(session, frigate.authority)
        expected = [
            {key: value for key, value in node.items() if key != "rollup"}
            for node in chain_view(session, frigate.root.id, authority)["nodes"]
        ]
        tree = chain_tree(session, frigate.root.id)
    assert tree["nodes"] == expected
    assert [n["gap"] for n in tree["nodes"] if n["part_number"] == "MMIC-7"] == [None, "cycle"]
    assert tree["truncated"] is False


def test_a_tree_larger_than_max_nodes_is_cut_breadth_first_and_says_so(session, frigate):
    tree = chain_tree(session, frigate.root.id, max_nodes=3)
    assert [n["part_number"] for n in tree["nodes"]] == ["ZEEHAVIK-1", "TRM-2040", "FOIL-2"]
    assert tree["truncated"] is True
