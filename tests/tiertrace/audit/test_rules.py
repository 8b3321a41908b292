"""The audit figures on a small hand-made programme, every number worked out by hand in the comments.

The programme (one root, ZEE-1 by "oem"), as the authority's chain view lists it:

    n0 ZEE-1      oem                     tier 0
    n1 TRM        radar     declared      tier 1
    n2 CASE       caser     overdue gap   tier 1
    n3 FOIL       "Moselle Foil SA" (no slug)  unknown_supplier gap, tier 1
    n4 MMIC       fab       declared      tier 2 (under TRM)
    n5 HOUSING    riveter   declined gap  tier 2 (under TRM)
    n6 GA         smelter   declared      tier 3 (under MMIC)

Its rolled-up materials (grams per ship):

    Ga  10 g  extraction CN 6, AU 2, unknown 2  processing CN 9, JP 1      facility Jinlu 9 g, recycled 1 g
    Co   4 g  extraction CD 3, unknown 1         processing FI 3, unknown 1  Kokkola 1 g, Harjavalta 1 g
    Ni 100 g  extraction unknown 100             processing unknown 100
"""

from __future__ import annotations

import pytest

from tiertrace.audit import rules
from tiertrace.reference import countries, materials

REFERENCE = materials()
NAMES = countries()

OEM = {"slug": "oem", "name": "OEM Yard", "country": "NL"}
RADAR = {"slug": "radar", "name": "Radar BV", "country": "NL"}
CASER = {"slug": "caser", "name": "Caser BV", "country": "NL"}
FOIL = {"slug": None, "name": "Moselle Foil SA", "country": "LU"}
FAB = {"slug": "fab", "name": "Fab GmbH", "country": "DE"}
RIVETER = {"slug": "riveter", "name": "Riveter Sp. z o.o.", "country": "PL"}
SMELTER = {"slug": "smelter", "name": "Smelter Co", "country": "CN"}


def node(node_id, parent, tier, part, supplier, *, gap=None, declaration_id=None, quantity_in_root=1.0):
    return {
        "id": node_id,
        "parent": parent,
        "tier": tier,
        "kind": "gap" if gap else "declaration",
        "declaration_id": declaration_id,
        "gap": gap,
        "supplier": supplier,
        "undisclosed": False,
        "part_number": part,
        "quantity": 1,
        "quantity_in_root": quantity_in_root,
        "rollup": {},
    }


VIEW = {
    "root": "d-zee",
    "truncated": False,
    "nodes": [
        node("n0", None, 0, "ZEE-1", OEM, declaration_id="d-zee"),
        node("n1", "n0", 1, "TRM", RADAR, declaration_id="d-trm", quantity_in_root=2),
        node("n2", "n0", 1, "CASE", CASER, gap="overdue"),
        node("n3", "n0", 1, "FOIL", FOIL, gap="unknown_supplier", quantity_in_root=0.2),
        node("n4", "n1", 2, "MMIC", FAB, declaration_id="d-mmic", quantity_in_root=8),
        node("n5", "n1", 2, "HOUSING", RIVETER, gap="declined", quantity_in_root=2),
        node("n6", "n4", 3, "GA", SMELTER, declaration_id="d-ga", quantity_in_root=8),
    ],
}

ROLLUP = {
    "rollup": {
        "Ga": {
            "mass_g": 10.0,
            "recycled_g": 1.0,
            "extraction": {"CN": 6.0, "AU": 2.0, "unknown": 2.0},
            "processing": {"CN": 9.0, "JP": 1.0, "unknown": 0.0},
            "facilities": {"Jinlu": 9.0},
        },
        "Co": {
            "mass_g": 4.0,
            "recycled_g": 0.0,
            "extraction": {"CD": 3.0, "unknown": 1.0},
            "processing": {"FI": 3.0, "unknown": 1.0},
            "facilities": {"Kokkola": 1.0, "Harjavalta": 1.0},
        },
        "Ni": {
            "mass_g": 100.0,
            "recycled_g": 0.0,
            "extraction": {"unknown": 100.0},
            "processing": {"unknown": 100.0},
            "facilities": {},
        },
    },
    "coverage": {
        "components_total": 6,
        "components_declared": 3,
        "max_tier": 3,
        "gaps": {"overdue": 1, "declined": 1, "unknown_supplier": 1},
    },
}


def request(request_id, requester, supplier, part, status, created_at, **dates):
    return {
        "id": request_id,
        "requester": requester,
        "supplier": supplier,
        "part_number": part,
        "status": status,
        "created_at": created_at,
        "due_date": "2025-03-10",
        "overdue_at": dates.get("overdue_at"),
        "reminded_at": dates.get("reminded_at"),
        "escalated_at": None,
        "decline_reason": dates.get("decline_reason"),
    }


REQUESTS = [
    request("r1", "oem", "radar", "TRM", "answered", "2025-03-01T00:00:00+00:00"),
    request("r2", "oem", "caser", "CASE", "overdue", "2025-03-02T00:00:00+00:00", overdue_at="2025-03-11"),
    request(
        "r3", "radar", "riveter", "HOUSING", "declined", "2025-03-02T00:00:00+00:00", decline_reason="no"
    ),
    request("r4", "radar", "fab", "MMIC", "answered", "2025-03-02T00:00:00+00:00"),
    # An earlier question about the same case, declined: the line was asked again, the latest (r2) decides.
    request("r5", "oem", "caser", "CASE", "declined", "2025-02-01T00:00:00+00:00"),
    # Not a line of this programme: ignored.
    request("r6", "someone", "else", "X", "open", "2025-03-02T00:00:00+00:00"),
]


@pytest.fixture(scope="module")
def report():
    return rules.report_figures([VIEW], [ROLLUP], REQUESTS, reference=REFERENCE, names=NAMES)


# --- small figures ---------------------------------------------------------------------------------------


def test_hhi_is_the_sum_of_squared_percentage_shares_of_named_countries():
    assert rules.hhi({"CN": 1.0}) == 10_000
    assert rules.hhi({"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}) == 2_500
    # Unknown mass is no country: 98 % CN with 2 % unknown is 98² = 9,604, not 10,000.
    assert rules.hhi({"CN": 0.98, "unknown": 0.02}) == 9_604
    assert rules.hhi({"unknown": 1.0}) == 0


def test_the_benchmark_flags_a_third_country_strictly_above_65_percent_and_never_an_eu_member():
    at_limit = rules.stage_figures({"CN": 65.0, "AT": 35.0, "unknown": 0.0}, 100.0)
    assert at_limit["top_share"] == 0.65 and at_limit["above_benchmark"] is False
    above = rules.stage_figures({"CN": 66.0, "AT": 34.0, "unknown": 0.0}, 100.0)
    assert above["above_benchmark"] is True and above["benchmark_country"] == "CN"
    eu = rules.stage_figures({"FI": 90.0, "NO": 10.0, "unknown": 0.0}, 100.0)
    assert (eu["top_country"], eu["benchmark_country"], eu["benchmark_share"]) == ("FI", "NO", 0.1)
    assert eu["above_benchmark"] is False


def test_a_material_without_mass_is_fully_traced_and_has_no_shares():
    figures = rules.stage_figures({"unknown": 0.0}, 0.0)
    assert figures["traced_share"] == 1.0
    assert (figures["hhi"], figures["top_country"], figures["top_share"]) == (0, None, 0.0)


def test_percentages_in_sentences_read_as_the_pages_print_them():
    # One decimal under 10 % (Jinlu refines 1.4 % of the demo's gallium: "1 %" in the sentence, "1.4 %"
    # on the page, before), half up from 10 %, a trace as "<0.1 %".
    values = (0.0, 0.0004, 0.004, 0.014, 0.0994, 0.0996, 0.125, 0.98, 0.995, 1.0)
    assert [rules.percent(v) for v in values] == [
        "0 %",
        "<0.1 %",
        "0.4 %",
        "1.4 %",
        "9.9 %",
        "10 %",
        "13 %",
        "98 %",
        "100 %",
        "100 %",
    ]


def test_export_licensing_dates_come_from_the_reference_list():
    assert rules.export_licensing_since(REFERENCE["Ga"]) == "2023-08"
    assert rules.export_licensing_since(REFERENCE["REE-heavy"]) == "2025-04"
    assert rules.export_licensing_since(REFERENCE["Nd"]) is None  # "not controlled as element"
    assert rules.export_licensing_since(REFERENCE["Co"]) is None


def test_material_and_country_names_read_well_in_a_sentence():
    assert rules.material_name(REFERENCE["Ni"], "Ni") == "nickel"
    assert rules.material_name(REFERENCE["REE-heavy"], "REE-heavy") == "heavy rare earth elements"
    assert rules.country_name("CD", NAMES) == "DR Congo"
    # A comma in a name is part of it, not an inverted index entry.
    assert rules.country_name("BQ", NAMES) == "Bonaire, Sint Eustatius and Saba"
    assert rules.country_name("RU", NAMES) == "Russia"
    assert rules.country_name("CN", NAMES) == "China"


def test_the_programme_sums_its_roots_one_unit_each():
    a = {"Ga": {"mass_g": 1.0, "recycled_g": 0.5, "extraction": {"CN": 1.0}, "processing": {"unknown": 1.0}}}
    b = {"Ga": {"mass_g": 2.0, "recycled_g": 0.0, "extraction": {"AU": 2.0}, "processing": {"JP": 2.0}}}
    total = rules.sum_rollups([a, b])
    assert total["Ga"]["mass_g"] == 3.0 and total["Ga"]["recycled_g"] == 0.5
    assert total["Ga"]["extraction"] == {"CN": 1.0, "AU": 2.0, "unknown": 0.0}
    assert total["Ga"]["processing"] == {"unknown": 1.0, "JP": 2.0}


def test_a_candidate_under_another_candidate_is_no_root_but_a_shared_cycle_keeps_both():
    nested = {"a": {"b", "x"}, "b": {"x"}, "c": set()}
    assert rules.top_level(["a", "b", "c"], nested) == ["a", "c"]
    cycle = {"a": {"b"}, "b": {"a"}}
    assert rules.top_level(["a", "b"], cycle) == ["a", "b"]


# --- risk per material and stage -------------------------------------------------------------------------


def test_gallium_shares_hhi_top_country_and_benchmark_per_stage(report):
    ga = report["risk"]["materials"]["Ga"]
    assert (ga["mass_g"], ga["recycled_share"]) == (10.0, 0.1)
    extraction = ga["extraction"]
    # 6/10, 2/10, unknown 2/10; HHI 60² + 20² = 4,000; CN at 60 % is not above 65 %.
    assert extraction["countries"] == {
        "CN": {"mass_g": 6.0, "share": 0.6},
        "AU": {"mass_g": 2.0, "share": 0.2},
        "unknown": {"mass_g": 2.0, "share": 0.2},
    }
    assert (extraction["hhi"], extraction["top_country"], extraction["top_share"]) == (4_000, "CN", 0.6)
    assert (extraction["unknown_share"], extraction["traced_share"], extraction["above_benchmark"]) == (
        0.2,
        0.8,
        False,
    )
    processing = ga["processing"]
    # 9/10 CN, 1/10 JP: HHI 90² + 10² = 8,200; CN at 90 % breaks the benchmark.
    assert (processing["hhi"], processing["top_country"], processing["top_share"]) == (8_200, "CN", 0.9)
    assert (processing["traced_share"], processing["above_benchmark"]) == (1.0, True)


def test_reference_flags_and_supply_risk_come_with_each_material(report):
    ga = report["risk"]["materials"]["Ga"]
    assert (ga["strategic"], ga["critical"], ga["supply_risk"], ga["main_stage"]) == (
        True,
        True,
        3.9,
        "processing",
    )
    assert ga["export_control"].startswith("CN licensing since 2023-08-01")
    co = report["risk"]["materials"]["Co"]
    assert (co["strategic"], co["critical"], co["supply_risk"]) == (True, True, 2.8)


def test_an_eu_member_at_75_percent_is_not_a_benchmark_breach_but_a_third_country_is(report):
    co = report["risk"]["materials"]["Co"]
    # Extraction: CD 3/4 = 75 % (third country), HHI 75² = 5,625. Processing: FI 75 % (EU member).
    assert (
        co["extraction"]["top_country"],
        co["extraction"]["hhi"],
        co["extraction"]["above_benchmark"],
    ) == (
        "CD",
        5_625,
        True,
    )
    assert (
        co["processing"]["top_country"],
        co["processing"]["hhi"],
        co["processing"]["above_benchmark"],
    ) == (
        "FI",
        5_625,
        False,
    )
    assert report["risk"]["benchmark_breaches"] == [
        {"material": "Co", "stage": "extraction", "country": "CD", "share": 0.75},
        {"material": "Ga", "stage": "processing", "country": "CN", "share": 0.9},
    ]


def test_untraced_nickel_has_no_top_country_and_an_hhi_of_zero(report):
    ni = report["risk"]["materials"]["Ni"]
    for stage in ("extraction", "processing"):
        assert (ni[stage]["top_country"], ni[stage]["hhi"], ni[stage]["unknown_share"]) == (None, 0, 1.0)


def test_one_named_refiner_is_a_single_facility_dependency_and_two_are_not(report):
    ga = report["risk"]["materials"]["Ga"]
    assert ga["facilities"] == {"Jinlu": {"mass_g": 9.0, "share": 0.9, "share_of_named": 1.0}}
    # Jinlu carries 9 of the 10 g traced to a processing country: all the facility-traced mass, not all.
    assert (ga["single_facility"], ga["facility_traced_share"], ga["covers_all_traced_processing"]) == (
        "Jinlu",
        0.9,
        False,
    )
    co = report["risk"]["materials"]["Co"]
    assert co["single_facility"] is None and co["facility_traced_share"] == 0.5
    assert report["risk"]["single_facility_dependencies"] == [
        {
            "material": "Ga",
            "facility": "Jinlu",
            "mass_g": 9.0,
            "share": 0.9,
            "covers_all_traced_processing": False,
        }
    ]


def test_the_programme_depends_on_each_country_across_materials(report):
    countries_ = report["risk"]["countries"]
    # Three materials with mass; SR weights Ga 3.9, Co 2.8, Ni 0.5 (sum 7.2).
    assert list(countries_) == ["CN", "CD", "FI", "AU", "JP"]
    cn = countries_["CN"]
    assert cn["name"] == "China"
    assert cn["processing"]["materials"] == {"Ga": 0.9}
    assert cn["processing"]["mass_g"] == 9.0
    assert cn["processing"]["mean_share"] == pytest.approx(0.9 / 3)
    assert cn["processing"]["sr_weighted_share"] == pytest.approx(3.9 * 0.9 / 7.2)
    assert (cn["processing"]["top_in"], cn["processing"]["above_benchmark_in"]) == (["Ga"], ["Ga"])
    assert (cn["extraction"]["top_in"], cn["extraction"]["above_benchmark_in"]) == (["Ga"], [])
    assert cn["extraction"]["sr_weighted_share"] == pytest.approx(3.9 * 0.6 / 7.2)
    cd = countries_["CD"]
    assert cd["extraction"]["sr_weighted_share"] == pytest.approx(2.8 * 0.75 / 7.2)
    assert cd["extraction"]["above_benchmark_in"] == ["Co"]
    assert countries_["FI"]["processing"]["above_benchmark_in"] == []
    assert countries_["AU"]["extraction"]["mean_share"] == pytest.approx(0.2 / 3)
    assert countries_["JP"]["extraction"]["material_count"] == 0


# --- completeness --------------------------------------------------------------------------------------


def test_completeness_totals_come_from_the_root_coverage(report):
    c = report["completeness"]
    assert (c["components_total"], c["components_declared"], c["share_declared"], c["max_tier"]) == (
        6,
        3,
        0.5,
        3,
    )
    assert c["gaps"] == {"overdue": 1, "declined": 1, "unknown_supplier": 1}
    # r1..r5 are for lines of the tree, r6 is not; r5 was overtaken by r2 on the same line: four lines,
    # counted as their latest request, like the gaps (overdue 1 in both).
    assert c["requests"] == {
        "sent": 4,
        "answered": 2,
        "declined": 1,
        "open": 0,
        "overdue": 1,
        "response_rate": 0.75,
    }
    assert c["truncated"] is False


def test_each_tier_counts_components_gaps_requests_and_its_response_rate(report):
    tiers = report["completeness"]["tiers"]
    assert [(t["tier"], t["components"], t["declared"], t["share_declared"]) for t in tiers] == [
        (1, 3, 1, pytest.approx(1 / 3)),
        (2, 2, 1, 0.5),
        (3, 1, 1, 1.0),
    ]
    assert [t["gaps"] for t in tiers] == [{"overdue": 1, "unknown_supplier": 1}, {"declined": 1}, {}]
    assert tiers[0]["requests"] == {"sent": 2, "answered": 1, "declined": 0, "open": 0, "overdue": 1}
    assert tiers[0]["response_rate"] == 0.5
    assert tiers[1]["requests"] == {"sent": 2, "answered": 1, "declined": 1, "open": 0, "overdue": 0}
    assert tiers[1]["response_rate"] == 1.0
    assert (tiers[2]["requests"]["sent"], tiers[2]["response_rate"]) == (0, None)


def test_each_tier_1_branch_says_how_deep_it_reaches(report):
    branches = report["completeness"]["branches"]
    assert [(b["part_number"], b["supplier"], b["gap"], b["deepest_tier"]) for b in branches] == [
        ("TRM", RADAR, None, 3),
        ("CASE", CASER, "overdue", None),
        ("FOIL", FOIL, "unknown_supplier", None),
    ]
    assert [(b["components_total"], b["components_declared"], b["share_declared"]) for b in branches] == [
        (4, 3, 0.75),
        (1, 0, 0.0),
        (1, 0, 0.0),
    ]


def test_each_material_says_how_much_is_traced_to_a_country_and_a_facility(report):
    assert report["completeness"]["materials"] == {
        "Co": {"mass_g": 4.0, "traced_processing": 0.75, "traced_extraction": 0.75, "traced_facility": 0.5},
        "Ga": {"mass_g": 10.0, "traced_processing": 1.0, "traced_extraction": 0.8, "traced_facility": 0.9},
        "Ni": {"mass_g": 100.0, "traced_processing": 0.0, "traced_extraction": 0.0, "traced_facility": 0.0},
    }


def test_every_gap_is_listed_with_its_path_supplier_lister_and_latest_request(report):
    gaps = report["gaps"]
    assert [(g["tier"], g["path"], g["kind"], g["supplier"], g["listed_by"]) for g in gaps] == [
        (1, ["ZEE-1", "CASE"], "overdue", CASER, OEM),
        (1, ["ZEE-1", "FOIL"], "unknown_supplier", FOIL, OEM),
        (2, ["ZEE-1", "TRM", "HOUSING"], "declined", RIVETER, RADAR),
    ]
    assert [g["request"]["id"] if g["request"] else None for g in gaps] == ["r2", None, "r3"]
    assert gaps[2]["listed_in"] == "d-trm" and gaps[2]["quantity_in_root"] == 2
    assert {g["root"] for g in gaps} == {"d-zee"}


# --- ranking and the summary -----------------------------------------------------------------------------


def test_risks_are_ranked_by_exposure_times_supply_risk_times_weight(report):
    ranked = report["risk"]["ranked"]
    assert [(r["rank"], r["kind"], r["material"], r["stage"]) for r in ranked] == [
        (1, "concentration", "Ga", "processing"),  # 0.9 × 3.9 × 1.5 (CN licenses Ga) = 5.265
        (2, "single_facility", "Ga", "processing"),  # 3.9 × 0.75 = 2.925
        (3, "concentration", "Co", "extraction"),  # 0.75 × 2.8 = 2.1 (processing ties; extraction first)
        (4, "undeclared", None, None),  # 3 of 6 lines = 0.5
        (5, "unknown_origin", "Co", "extraction"),  # 0.25 × 2.8 × 0.5 = 0.35
        (6, "unknown_origin", "Ni", "extraction"),  # 1.0 × 0.5 × 0.5 = 0.25
    ]
    assert [r["score"] for r in ranked] == pytest.approx([5.265, 2.925, 2.1, 0.5, 0.35, 0.25])
    # Gallium extraction (60 %) scored 3.51 and lost to processing; its unknown 20 % is under 25 %.
    assert sum(1 for r in ranked if r["material"] == "Ga" and r["kind"] == "concentration") == 1


def test_the_summary_tells_the_five_largest_risks_in_plain_sentences(report):
    assert report["summary"] == [
        "90 % of the programme's gallium is refined in China (HHI 8,200); "
        "China has licensed gallium exports since 2023-08.",
        "One facility, Jinlu, refines all of the programme's gallium that is traced to a named refiner "
        "(90 % of its mass).",
        "75 % of the programme's cobalt is mined in DR Congo (HHI 5,625), "
        "above the Critical Raw Materials Act's 65 % benchmark.",
        "3 of the programme's 6 component lines (50 %) are not declared: "
        "1 overdue, 1 declined, 1 with an unknown supplier.",
        "The mining country of 25 % of the programme's cobalt is unknown.",
    ]


def test_a_concentration_within_the_benchmark_says_so_by_saying_nothing_about_it():
    figures = {
        "mass_g": 1.0,
        "recycled_g": 0.0,
        "extraction": {"unknown": 1.0},
        "processing": {"NO": 0.6, "SE": 0.4, "unknown": 0.0},
        "facilities": {},
    }
    material = rules.material_risk("Si", figures, REFERENCE["Si"])
    completeness = {"components_total": 0, "components_declared": 0, "gaps": {}}
    ranked = rules.rank_risks({"Si": material}, completeness, reference=REFERENCE, names=NAMES)
    assert ranked[0]["sentence"] == "60 % of the programme's silicon metal is refined in Norway (HHI 5,200)."


# --- the observatory -------------------------------------------------------------------------------------


def test_the_observatory_sums_programmes_and_names_no_supplier_facility_or_programme():
    other = {
        "Ga": {
            "mass_g": 10.0,
            "recycled_g": 0.0,
            "extraction": {"unknown": 10.0},
            "processing": {"JP": 10.0},
            "facilities": {"Dowa": 10.0},
        }
    }
    figures = rules.observatory_figures(
        {"ZEEHAVIK": [ROLLUP["rollup"]], "LEOPARD": [other]}, reference=REFERENCE, names=NAMES
    )
    assert figures["programmes"] == 2
    ga = figures["materials"]["Ga"]
    # 20 g in all: processing CN 9, JP 1 + 10 = 11 -> 45 % and 55 %; HHI 45² + 55² = 5,050.
    assert (ga["mass_g"], ga["programmes"]) == (20.0, 2)
    assert ga["processing"]["countries"]["JP"] == {"mass_g": 11.0, "share": 0.55}
    assert ga["processing"]["hhi"] == pytest.approx(5_050)
    assert figures["materials"]["Ni"]["programmes"] == 1
    assert "CN" in figures["countries"]
    text = repr(figures)
    for secret in ("Jinlu", "Dowa", "Kokkola", "ZEEHAVIK", "LEOPARD", "facilit"):
        assert secret not in text
