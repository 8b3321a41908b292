"""The ZEEHAVIK demo data against the reference lists, the payload rules and the programme document.

The figures written here as literals are copied from demo-chain.md (§2 tier tree, §5 per-ship totals,
§6 problems, §7 demo script): the tests check the data against the published tables, so a literal must
never be replaced by a value computed from the data.
"""

from __future__ import annotations

import copy
import json
import math
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest

from schemas.declaration import DeclarationPayloadSchema
from tiertrace.demo import (
    DATA_FILE,
    DemoDataError,
    expected_per_ship_rollup,
    expected_per_ship_totals,
    iter_components,
    load_programme,
    parse_programme,
    payload_for,
    unfold,
)
from tiertrace.reference import is_country, is_material

PROGRAMME = load_programme()
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

#: demo-chain.md §5, "Per ship", magnets at v1: (figure, grams per printed unit). He, Sb and In are printed
#: in grams, the rest in kilograms.
PUBLISHED_PER_SHIP = {
    "Al": (15_029.860, 1000), "Cu": (5_024.198, 1000), "Ni": (1_877.520, 1000),
    "C-graphite": (1_527.600, 1000), "Mn": (1_084.000, 1000), "P": (951.400, 1000), "Cr": (894.900, 1000),
    "Mg": (630.000, 1000),
    "Mo": (417.360, 1000), "Si": (416.014, 1000), "Ti-metal": (413.700, 1000), "Li": (214.400, 1000),
    "fluorspar": (176.880, 1000), "Nd": (152.691, 1000), "Nb": (71.100, 1000), "V": (66.000, 1000),
    "Pr": (39.859, 1000), "Co": (21.313, 1000), "Sn": (19.264, 1000), "Dy": (13.024, 1000),
    "W": (12.442, 1000), "Ta": (11.020, 1000), "B": (9.144, 1000), "Ge": (4.800, 1000), "Tb": (3.200, 1000),
    "Y": (1.811, 1000), "Re": (1.800, 1000), "Ga": (1.298, 1000), "Sm": (0.614, 1000), "Zr": (0.545, 1000),
    "Be": (0.291, 1000), "Hf": (0.060, 1000), "As": (0.018, 1000), "PGM": (0.014, 1000),
    "He": (0.080, 1), "Sb": (0.040, 1), "In": (0.032, 1),
}  # fmt: skip

#: demo-chain.md §5, "to refining country or deeper (%)".
PUBLISHED_REFINING_COUNTRY_PCT = {
    "Al": 88, "Cu": 98, "Ni": 100, "C-graphite": 0, "Mn": 89, "P": 100, "Cr": 100, "Mg": 100, "Mo": 100,
    "Si": 100, "Ti-metal": 100, "Li": 100, "fluorspar": 100, "Nd": 100, "Nb": 100, "V": 100, "Pr": 100,
    "Co": 100, "Sn": 100, "Dy": 100, "W": 100, "Ta": 98, "B": 100, "Ge": 100, "Tb": 100, "Y": 100, "Re": 100,
    "Ga": 100, "Sm": 100, "Zr": 100, "Be": 95, "Hf": 100, "As": 100, "PGM": 100, "He": 0, "Sb": 100,
    "In": 100,
}  # fmt: skip

#: demo-chain.md §2: the depth at which an organisation first appears in the tier tree.
TIER_TREE = {
    "O-000": 0,
    "O-101": 1, "O-102": 1, "O-103": 1, "O-104": 1, "O-105": 1, "O-106": 1, "O-107": 1, "O-108": 1,
    "O-201": 2, "O-202": 2, "O-203": 2, "O-204": 2, "O-205": 2, "O-206": 2, "O-207": 2, "O-208": 2,
    "O-209": 2, "O-210": 2, "O-211": 2, "O-212": 2, "O-213": 2, "O-214": 2, "O-215": 2, "O-217": 2,
    "O-219": 2,
    "O-301": 3, "O-302": 3, "O-304": 3, "O-305": 3, "O-306": 3, "O-307": 3, "O-308": 3, "O-309": 3,
    "O-310": 3, "O-311": 3, "O-312": 3, "O-313": 3, "O-315": 3, "O-316": 3, "O-317": 3, "O-318": 3,
    "O-320": 3, "O-322": 3, "O-323": 3, "O-324": 3, "O-326": 3, "O-327": 3, "O-329": 3, "O-330": 3,
    "O-331": 3, "O-332": 3, "O-333": 3, "O-334": 3, "O-335": 3, "O-336": 3, "O-337": 3, "O-408": 3,
    "O-409": 3, "O-512": 3,
    "O-401": 4, "O-403": 4, "O-404": 4, "O-405": 4, "O-406": 4, "O-407": 4, "O-503": 4, "O-506": 4,
    "O-507": 4, "O-511": 4, "O-513": 4,
    "O-501": 5, "O-502": 5, "O-504": 5, "O-505": 5, "O-508": 5,
    "O-510": 6,
}  # fmt: skip


def published_grams(material: str) -> tuple[float, float]:
    """The published per-ship figure in grams, and the tolerance: 1 % of it, or half a unit of its last
    printed digit (every figure is printed with three decimals) when that is larger."""
    figure, grams_per_unit = PUBLISHED_PER_SHIP[material]
    return figure * grams_per_unit, max(0.01 * figure, 0.0005) * grams_per_unit


def company_slug(demo_id: str) -> str:
    return next(org.slug for org in PROGRAMME.companies if org.demo_id == demo_id)


def test_the_programme_has_the_79_organisations_of_the_document_with_valid_unique_slugs():
    companies = PROGRAMME.companies
    assert len(companies) == 79
    assert len({org.demo_id for org in companies}) == 79
    slugs = [org.slug for org in PROGRAMME.organizations]
    assert len(set(slugs)) == len(slugs)
    assert all(SLUG.match(slug) and len(slug) <= 64 for slug in slugs), slugs
    assert company_slug("O-101") == "helder-sensor"
    assert {org.kind for org in PROGRAMME.organizations} == {"company", "authority", "operator"}


def test_every_material_code_is_in_the_reference_list():
    codes = {line.material for filing in PROGRAMME.filings for line in filing.materials}
    assert codes, "the demo declares no material at all"
    assert sorted(code for code in codes if not is_material(code)) == []


def test_every_country_is_an_iso_3166_alpha_2_code():
    countries = {org.country for org in PROGRAMME.organizations}
    for filing in PROGRAMME.filings:
        for line in filing.materials:
            countries.update(origin.country for origin in (*line.extraction, *line.processing))
    countries.update(c.supplier_country for _, c in iter_components() if c.supplier_country is not None)
    assert sorted(country for country in countries if not is_country(country)) == []


def test_shares_per_stage_lie_between_0_and_1_and_add_up_to_at_most_1():
    for filing in PROGRAMME.filings:
        for line in filing.materials:
            assert math.isfinite(line.mass_g) and line.mass_g > 0, (filing.ref, line.material)
            assert 0 <= line.recycled_share <= 1, (filing.ref, line.material)
            for stage in (line.extraction, line.processing):
                assert all(0 <= origin.share <= 1 for origin in stage), (filing.ref, line.material)
                assert sum(origin.share for origin in stage) <= 1 + 1e-9, (filing.ref, line.material)
        materials = [line.material for line in filing.materials]
        assert len(set(materials)) == len(materials), filing.ref


def test_every_component_supplier_is_a_demo_organisation_or_null():
    slugs = {org.slug for org in PROGRAMME.companies}
    for filing, component in iter_components():
        assert component.supplier is None or component.supplier in slugs, (filing.ref, component.supplier)
        assert math.isfinite(component.quantity) and component.quantity > 0, (
            filing.ref,
            component.part_number,
        )
        if component.supplier is None:
            assert component.supplier_name, (filing.ref, component.part_number)
        else:
            assert component.disclose_supplier_to in (("authority",), ("requester",), ("chain",))


def test_the_chain_is_six_levels_deep_down_to_the_bauxite_mine():
    nodes = unfold()
    deepest = max(node.tier for node in nodes if node.filing is not None)
    assert deepest == 6
    bottom = [node for node in nodes if node.filing is not None and node.tier == 6]
    assert {node.filing.org for node in bottom if node.filing} == {company_slug("O-510")}
    parents = {
        nodes[node.parent].filing.org
        for node in bottom
        if node.parent is not None and nodes[node.parent].filing
    }
    assert parents == {company_slug("O-501")}


def test_organisations_first_appear_at_their_depth_of_the_tier_tree():
    first_seen: dict[str, int] = {}
    for node in unfold(versions="first"):
        if node.filing is not None:
            first_seen[node.filing.org] = min(node.tier, first_seen.get(node.filing.org, node.tier))
    assert {demo_id: first_seen.get(company_slug(demo_id)) for demo_id in TIER_TREE} == TIER_TREE


@pytest.mark.parametrize("material", sorted(PUBLISHED_PER_SHIP))
def test_per_ship_totals_with_the_v1_magnets_match_the_published_table(material):
    grams, tolerance = published_grams(material)
    assert expected_per_ship_totals(versions="first")[material] == pytest.approx(grams, abs=tolerance)


def test_the_required_per_ship_totals_are_within_one_percent_of_the_published_table():
    totals = expected_per_ship_totals(versions="first")
    for material in ("Ga", "Al", "Cu", "Ni", "C-graphite", "Dy", "Nd"):
        assert totals[material] == pytest.approx(published_grams(material)[0], rel=0.01), material
    assert set(totals) == set(PUBLISHED_PER_SHIP)


@pytest.mark.parametrize("material", sorted(PUBLISHED_REFINING_COUNTRY_PCT))
def test_the_share_traced_to_a_refining_country_matches_the_published_table(material):
    entry = expected_per_ship_rollup(versions="first")[material]
    traced = 100 * (1 - entry["processing"]["unknown"] / entry["mass_g"])
    assert traced == pytest.approx(PUBLISHED_REFINING_COUNTRY_PCT[material], abs=0.6)


def test_the_superseding_magnet_declaration_brings_dy_to_11_7_kg_and_tb_to_4_5_kg_per_ship():
    v1 = expected_per_ship_totals(versions="first")
    v2 = expected_per_ship_totals(versions="latest")
    assert v2["Dy"] / 1000 == pytest.approx(11.7, abs=0.05)
    assert v2["Tb"] / 1000 == pytest.approx(4.5, abs=0.05)
    assert v2["Nd"] == pytest.approx(v1["Nd"])
    assert v2["Ga"] == pytest.approx(v1["Ga"])


def test_the_superseding_magnet_declaration_lowers_nd_traced_to_mine_from_96_to_67_percent():
    def traced(versions):
        entry = expected_per_ship_rollup(versions=versions)["Nd"]
        return 100 * (1 - entry["extraction"]["unknown"] / entry["mass_g"])

    assert traced("first") == pytest.approx(96, abs=1)
    assert traced("latest") == pytest.approx(67, abs=1)


def test_the_magnet_v2_supersedes_v1_and_is_filed_after_it():
    magnets = PROGRAMME.filings_of(company_slug("O-208"))
    assert [filing.ref for filing in magnets] == ["DECL-208-001", "DECL-208-002"]
    v1, v2 = magnets
    assert v1.supersedes_ref is None and v2.supersedes_ref == "DECL-208-001"
    assert v1.part_number == v2.part_number
    assert PROGRAMME.supersessions == (v2,)
    order = [filing.ref for filing in PROGRAMME.filings]
    hengtu_ndpr = PROGRAMME.require_filing("DECL-316-004")
    assert order.index("DECL-208-001") < order.index("DECL-208-002") < order.index(hengtu_ndpr.ref)
    assert PROGRAMME.get_answer(v1.org, v1.part_number) == v1


def test_filings_come_tier_by_tier_and_each_is_reachable_from_the_ship():
    tiers = [filing.tier for filing in PROGRAMME.filings]
    split = PROGRAMME.filings.index(PROGRAMME.supersessions[0])
    assert tiers[:split] == sorted(tiers[:split]) and tiers[split:] == sorted(tiers[split:])
    assert max(tiers[:split]) == 6
    assert PROGRAMME.filings[0] == PROGRAMME.root
    assert PROGRAMME.root.org == company_slug("O-000")
    assert PROGRAMME.root.part_name == "ZEEHAVIK frigate, ship 1"
    assert PROGRAMME.root.payload["program"] == "ZEEHAVIK"
    reached = {node.filing.ref for v in ("first", "latest") for node in unfold(versions=v) if node.filing}
    assert reached == {filing.ref for filing in PROGRAMME.filings}


def test_the_ship_lists_the_tier_1_parts_with_their_per_ship_quantities():
    quantities = {c.part_number: c.quantity for c in PROGRAMME.root.components}
    assert quantities == {
        "HSS-AR4S-100": 1, "KIM-IM3-000": 1, "EMD-PM3000": 2, "AMT-MT25-000": 1,
        "CNC-CMS-R7": 30, "FME-LFP-1200": 2, "ALS-VLS-8C": 4, "MHS-BP-SET": 1,
    }  # fmt: skip


def test_the_graphite_anode_supplier_never_answers_and_its_request_stays_overdue():
    graphite = company_slug("O-328")
    assert PROGRAMME.filings_of(graphite) == ()
    cell = PROGRAMME.require_filing("DECL-215-001")
    [component] = [c for c in cell.components if c.supplier == graphite]
    assert component.request_disclosure is True
    [silent] = [r for r in PROGRAMME.silent_requests if r.supplier == graphite]
    assert (silent.requester, silent.part_number) == (cell.org, component.part_number)
    assert silent.due_date is not None and silent.due_date.isoformat() == "2025-04-01"
    gaps = [node.gap for node in unfold() if node.component is component]
    assert gaps and set(gaps) == {"overdue"}


def test_the_launch_sequencer_supplier_is_disclosed_to_the_authority_only():
    sealed = PROGRAMME.require_organization(company_slug("O-216"))
    assert sealed.sealed and sealed.country == "US" and "Supplier X" not in sealed.name
    links = [(filing, c) for filing, c in iter_components() if c.supplier == sealed.slug]
    assert [(filing.org, c.part_number) for filing, c in links] == [(company_slug("O-107"), "ALS-LSQ-7")]
    assert [c.disclose_supplier_to for _, c in links] == [("authority",)]
    [payload_component] = [c for c in links[0][0].payload["components"] if c["supplier"] == sealed.slug]
    assert payload_component["disclose_supplier_to"] == ["authority"]
    # The identity must not leak through free text either.
    texts = [filing.statement for filing in PROGRAMME.filings] + [c.note or "" for _, c in iter_components()]
    assert not [text for text in texts if sealed.name.split()[0] in text]


def test_shared_suppliers_have_one_declaration_reused_under_every_customer():
    customers: dict[str, set[str]] = defaultdict(set)
    nodes = unfold(versions="first")
    for node in nodes:
        if node.filing is not None and node.parent is not None and nodes[node.parent].filing is not None:
            customers[node.filing.ref].add(nodes[node.parent].filing.org)
    expected = {
        "DECL-308-001": {"O-204"},  # one capacitor declaration under all three PCBA declarations
        "DECL-401-001": {"O-301", "O-302"},
        "DECL-510-001": {"O-501"},
        "DECL-318-001": {"O-208", "O-322"},
        "DECL-316-003": {"O-307", "O-326"},
        "DECL-320-001": {"O-210", "O-329"},
        "DECL-403-001": {"O-308", "O-322"},
        "DECL-336-001": {"O-219", "O-323"},
        "DECL-332-001": {"O-219", "O-322"},
    }
    for ref, demo_ids in expected.items():
        assert customers[ref] >= {company_slug(demo_id) for demo_id in demo_ids}, ref
    pcba_parents = {
        nodes[n.parent].filing.org for n in nodes if n.filing and n.filing.org == company_slug("O-204")
    }
    assert pcba_parents == {company_slug("O-101"), company_slug("O-102"), company_slug("O-105")}
    master_melt_parents = {
        nodes[n.parent].filing.org for n in nodes if n.filing and n.filing.org == company_slug("O-322")
    }
    assert master_melt_parents == {company_slug("O-211"), company_slug("O-212")}


def test_tier_1_is_fully_declared_and_tier_2_has_one_open_sealed_party():
    nodes = unfold()
    for tier, declared, total in ((1, 8, 8), (2, 17, 18)):
        suppliers = {
            n.component.supplier for n in nodes if n.tier == tier and n.component and n.component.supplier
        }
        answered = {n.filing.org for n in nodes if n.tier == tier and n.filing is not None}
        assert (len(answered), len(suppliers)) == (declared, total), tier


def test_the_deliberate_problems_show_in_the_data():
    rollup = expected_per_ship_rollup(versions="latest")
    # P3: the radar's gallium has one primary refiner; magnesium is 100 % CN.
    primary_ga = [line for filing in PROGRAMME.filings_of(company_slug("O-501")) for line in filing.materials]
    assert {origin.country for line in primary_ga for origin in line.processing} == {"CN"}
    for material in ("Mg", "Ga"):
        processing = rollup[material]["processing"]
        assert processing == {"CN": pytest.approx(rollup[material]["mass_g"]), "unknown": 0.0}, material
    # P4: Myanmar feed behind the heavy rare earths.
    assert rollup["Dy"]["extraction"].get("MM", 0) > 0.3 * rollup["Dy"]["mass_g"]
    # P5: Russian-brand nickel; P7: Great Lakes tantalum.
    assert rollup["Ni"]["processing"]["RU"] > 0.15 * rollup["Ni"]["mass_g"]
    assert rollup["Ta"]["extraction"]["RW"] == pytest.approx(0.49 * rollup["Ta"]["mass_g"], rel=0.02)


def test_payload_for_builds_payloads_the_wire_schema_accepts():
    issued_at = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    ids = {filing.ref: filing.declaration_uuid for filing in PROGRAMME.filings}
    for filing in PROGRAMME.filings:
        supersedes = str(ids[filing.supersedes_ref]) if filing.supersedes_ref else None
        payload = payload_for(
            filing,
            declaration_id=ids[filing.ref],
            issued_at=issued_at,
            in_response_to=None,
            supersedes=supersedes,
        )
        assert list(payload)[:5] == ["id", "issuer", "issued_at", "in_response_to", "supersedes"]
        assert payload["issued_at"] == "2025-03-10T09:00:00Z"
        assert payload["issuer"] == filing.org
        assert DeclarationPayloadSchema().validate(json.loads(json.dumps(payload))) == {}, filing.ref


def test_payload_for_converts_the_time_to_utc_and_the_request_id_to_text():
    filing = PROGRAMME.require_filing("DECL-215-001")
    declaration_id = uuid.uuid4()
    cest = timezone(timedelta(hours=2))
    payload = payload_for(
        filing,
        declaration_id=declaration_id,
        issued_at=datetime(2025, 4, 22, 11, 30, tzinfo=cest),
        in_response_to=42,
        supersedes=None,
    )
    assert payload["id"] == str(declaration_id)
    assert payload["issued_at"] == "2025-04-22T09:30:00Z"
    assert payload["in_response_to"] == "42"
    with pytest.raises(ValueError):
        naive = datetime(2025, 4, 22)
        payload_for(
            filing, declaration_id=declaration_id, issued_at=naive, in_response_to=None, supersedes=None
        )


def test_payload_for_insists_on_the_superseded_id_exactly_when_the_filing_supersedes():
    v1 = PROGRAMME.require_filing("DECL-208-001")
    v2 = PROGRAMME.require_filing("DECL-208-002")
    at = datetime(2025, 9, 22, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="DECL-208-001"):
        payload_for(v2, declaration_id=uuid.uuid4(), issued_at=at, in_response_to=None, supersedes=None)
    with pytest.raises(ValueError):
        payload_for(
            v1, declaration_id=uuid.uuid4(), issued_at=at, in_response_to=None, supersedes=str(uuid.uuid4())
        )
    old = str(v1.declaration_uuid)
    assert (
        payload_for(v2, declaration_id=uuid.uuid4(), issued_at=at, in_response_to=None, supersedes=old)[
            "supersedes"
        ]
        == old
    )


def test_payload_for_returns_a_fresh_dict_that_callers_may_change():
    filing = PROGRAMME.require_filing("DECL-204-001")
    at = datetime(2025, 2, 28, 9, 0, tzinfo=UTC)
    first = payload_for(
        filing, declaration_id=uuid.uuid4(), issued_at=at, in_response_to=None, supersedes=None
    )
    first["components"][0]["quantity"] = 999
    first["materials"].clear()
    second = payload_for(
        filing, declaration_id=uuid.uuid4(), issued_at=at, in_response_to=None, supersedes=None
    )
    assert second["components"][0]["quantity"] == 40
    assert second["materials"]


def test_the_personas_are_a_supplier_the_oem_and_the_ministry_with_an_operator_organisation():
    roles = {persona.role: persona for persona in PROGRAMME.personas}
    assert set(roles) == {"supplier", "oem", "authority"}
    assert all(persona.email.endswith("@example.org") and persona.password for persona in roles.values())
    assert roles["oem"].organization == company_slug("O-000")
    assert PROGRAMME.require_organization(roles["supplier"].organization).kind == "company"
    ministry = PROGRAMME.require_organization(roles["authority"].organization)
    assert (ministry.slug, ministry.kind) == ("mod-nl", "authority")
    assert [org.kind for org in PROGRAMME.organizations if org.kind == "operator"] == ["operator"]


def test_signing_seeds_are_deterministic_and_distinct_per_organisation():
    seeds = {org.signing_seed for org in PROGRAMME.organizations}
    assert len(seeds) == len(PROGRAMME.organizations)
    assert all(len(seed) == 32 for seed in seeds)
    assert load_programme().organizations[0].signing_seed == PROGRAMME.organizations[0].signing_seed


def _document() -> dict:
    text = resources.files("tiertrace.demo").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def test_parse_programme_rejects_a_component_naming_an_unknown_supplier():
    document = copy.deepcopy(_document())
    document["organizations"][0]["declarations"][0]["components"][0]["supplier"] = "no-such-yard"
    with pytest.raises(DemoDataError, match="no-such-yard"):
        parse_programme(document)


def test_parse_programme_rejects_a_filing_nobody_asks_for():
    document = copy.deepcopy(_document())
    mine = next(org for org in document["organizations"] if org["demo_id"] == "O-510")
    extra = copy.deepcopy(mine["declarations"][0])
    extra.update(demo_ref="DECL-510-099", part={"number": "FNB-BX-ORPHAN", "name": "orphan", "unit": "t"})
    mine["declarations"].append(extra)
    with pytest.raises(DemoDataError, match="DECL-510-099"):
        parse_programme(document)


def test_parse_programme_rejects_a_supplier_that_neither_files_nor_stays_silent():
    document = copy.deepcopy(_document())
    document["silent_requests"] = [r for r in document["silent_requests"] if r["demo_ref"] != "REQ-328-001"]
    with pytest.raises(DemoDataError, match="heilong-graphite"):
        parse_programme(document)
