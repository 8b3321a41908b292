"""The pure merge: hand-computed chains, cycles, self-references, in-house parts and gap kinds."""

from __future__ import annotations

import pytest

from tiertrace.chains.merge import (
    CYCLE_GROUP_BUDGET,
    ChainGraph,
    Component,
    DeclarationFacts,
    Figures,
    MaterialLine,
    Merger,
    Origin,
    Resolution,
    coverage_view,
    figures_from_data,
    figures_to_data,
    may_see_supplier,
    merge,
    own_figures,
    resolve_component,
    rollup_view,
    strongly_connected_components,
)

# Issuers of the chains below.
OEM, RADAR, FAB, REFINER, FOUNDRY, SMELTER, OTHER = range(1, 8)


def ga(
    mass_g: float, extraction: float = 0.8, processing: float = 0.98, facility: str | None = None
) -> MaterialLine:
    return MaterialLine(
        "Ga",
        mass_g,
        extraction=(Origin("CN", extraction),),
        processing=(Origin("CN", processing, facility),),
    )


def declaration(
    declaration_id: str,
    issuer_id: int,
    part: str,
    materials: tuple[MaterialLine, ...] = (),
    components: tuple[Component, ...] = (),
) -> DeclarationFacts:
    return DeclarationFacts(declaration_id, issuer_id, part, materials, components)


def graph_of(*declarations: DeclarationFacts, requests: dict | None = None) -> ChainGraph:
    return ChainGraph(
        {d.id: d for d in declarations},
        current={(d.issuer_id, d.part_number): d.id for d in declarations},
        requests=requests or {},
    )


def design_example() -> ChainGraph:
    """A chain whose root figures are DESIGN.md's example: 12.5 g Ga, 9 components, 7 declared, tier 4."""
    return graph_of(
        declaration(
            "root",
            OEM,
            "FRIGATE",
            components=(
                Component("TRM-2040", RADAR, 10),
                Component("FOIL-2", None, 0.2, request_disclosure=True, supplier_name="Moselle Foil SA"),
                Component("CASE-1", OTHER, 1, request_disclosure=True),
            ),
        ),
        declaration("trm", RADAR, "TRM-2040", components=(Component("MMIC-7", FAB, 4),)),
        declaration(
            "mmic", FAB, "MMIC-7", components=(Component("TMGA", REFINER, 1), Component("WAFER", FOUNDRY, 2))
        ),
        declaration("tmga", REFINER, "TMGA", components=(Component("GA-7N", SMELTER, 1),)),
        declaration(
            "wafer",
            FOUNDRY,
            "WAFER",
            components=(Component("GA-4N", SMELTER, 1), Component("GA-5N", SMELTER, 1)),
        ),
        declaration("ga7", SMELTER, "GA-7N", materials=(ga(0.1125),)),
        declaration("ga4", SMELTER, "GA-4N", materials=(ga(0.05),)),
        declaration("ga5", SMELTER, "GA-5N", materials=(ga(0.05),)),
        requests={(OEM, OTHER, "CASE-1"): "declined"},
    )


def test_design_example_rolls_up_to_the_figures_design_md_shows():
    figures = merge(design_example(), ["root"])["root"]

    assert rollup_view(figures) == {
        "Ga": {
            "mass_g": 12.5,
            "recycled_g": 0.0,
            "extraction": {"CN": 10.0, "unknown": 2.5},
            "processing": {"CN": 12.25, "unknown": 0.25},
        }
    }
    assert coverage_view(figures) == {
        "components_total": 9,
        "components_declared": 7,
        "max_tier": 4,
        "traced": {"Ga": {"extraction": 0.8, "processing": 0.98}},
    }
    assert figures.gaps == {"declined": 1, "unknown_supplier": 1}


def test_every_declaration_of_the_example_has_its_own_figures_per_unit_of_its_part():
    figures = merge(design_example())

    assert rollup_view(figures["trm"])["Ga"]["mass_g"] == 1.25
    assert rollup_view(figures["mmic"])["Ga"]["mass_g"] == 0.3125
    assert figures["mmic"].max_tier == 2
    assert figures["ga7"].components_total == 0


def test_shares_summing_to_less_than_one_leave_the_remainder_unknown_and_recycled_mass_is_reported():
    line = MaterialLine(
        "W",
        10.0,
        extraction=(Origin("CN", 0.5), Origin("AT", 0.2)),
        processing=(Origin("AT", 0.6, "Tyrol Tungsten Powders"), Origin("AT", 0.1), Origin("CN", 0.0)),
        recycled_share=0.25,
    )
    figures = own_figures(declaration("w", SMELTER, "W-POWDER", materials=(line,)))

    w = figures.materials["W"]
    assert w["mass_g"] == 10.0
    assert w["recycled_g"] == 2.5
    assert w["extraction"] == pytest.approx({"CN": 5.0, "AT": 2.0, "unknown": 3.0})
    # A zero share names no mass, so it adds no key.
    assert w["processing"] == pytest.approx({"AT": 7.0, "unknown": 3.0})
    assert w["facilities"] == pytest.approx({"Tyrol Tungsten Powders": 6.0})


def test_several_lines_of_the_same_material_add_up():
    figures = own_figures(
        declaration(
            "x", SMELTER, "X", materials=(ga(1.0, 1.0, 1.0), MaterialLine("Ga", 3.0, recycled_share=1.0))
        )
    )

    assert figures.materials["Ga"]["mass_g"] == 4.0
    assert figures.materials["Ga"]["recycled_g"] == 3.0
    assert figures.materials["Ga"]["extraction"] == {"CN": 1.0, "unknown": 3.0}


def test_a_fully_traced_material_still_carries_an_explicit_zero_unknown():
    figures = own_figures(declaration("x", SMELTER, "X", materials=(ga(2.0, 1.0, 1.0),)))

    assert rollup_view(figures)["Ga"]["extraction"] == {"CN": 2.0, "unknown": 0.0}
    assert coverage_view(figures)["traced"] == {"Ga": {"extraction": 1.0, "processing": 1.0}}


def test_a_material_of_zero_mass_counts_as_fully_traced():
    figures = own_figures(declaration("x", SMELTER, "X", materials=(MaterialLine("Ge", 0.0),)))

    assert coverage_view(figures)["traced"] == {"Ge": {"extraction": 1.0, "processing": 1.0}}


def test_a_self_reference_is_a_cycle_gap_that_contributes_nothing():
    graph = graph_of(
        declaration("a", FAB, "MMIC", materials=(ga(1.0),), components=(Component("MMIC", FAB, 3),)),
    )
    figures = merge(graph)["a"]

    assert figures.materials["Ga"]["mass_g"] == 1.0
    assert (figures.components_total, figures.components_declared, figures.max_tier) == (1, 0, 0)
    assert figures.gaps == {"cycle": 1}


def test_an_in_house_part_of_the_issuer_is_no_cycle():
    graph = graph_of(
        declaration("module", FAB, "MODULE", materials=(ga(1.0),), components=(Component("DIE", FAB, 2),)),
        declaration("die", FAB, "DIE", materials=(ga(0.5),)),
    )
    figures = merge(graph)["module"]

    assert figures.materials["Ga"]["mass_g"] == 2.0
    assert (figures.components_total, figures.components_declared, figures.max_tier) == (1, 1, 1)
    assert figures.gaps == {}


def two_cycle() -> ChainGraph:
    """A lists B twice per unit, B lists A: a cycle of two declarations."""
    return graph_of(
        declaration("a", FAB, "A", materials=(ga(1.0),), components=(Component("B", REFINER, 2),)),
        declaration("b", REFINER, "B", materials=(ga(10.0),), components=(Component("A", FAB, 5),)),
    )


def test_a_cycle_of_two_stops_where_the_chain_re_enters_the_root():
    figures = merge(two_cycle())

    # a = 1 + 2 x (b's own 10 g; its component back to a is a cycle gap)
    assert figures["a"].materials["Ga"]["mass_g"] == 21.0
    assert figures["b"].materials["Ga"]["mass_g"] == 15.0
    assert (figures["a"].components_total, figures["a"].components_declared) == (2, 1)
    assert figures["a"].gaps == {"cycle": 1}
    assert figures["a"].max_tier == 1


def test_inside_a_cycle_a_node_figures_depend_on_its_path():
    merger = Merger(two_cycle())

    below_a = merger.on_path("b", frozenset({"a", "b"}))
    assert below_a.materials["Ga"]["mass_g"] == 10.0
    assert below_a.gaps == {"cycle": 1}
    assert merger.as_root("b").materials["Ga"]["mass_g"] == 15.0
    assert merger.cycle_group == {"a": frozenset({"a", "b"}), "b": frozenset({"a", "b"})}


def test_a_three_cycle_with_a_shortcut_unfolds_every_path_once():
    # a -> b -> c -> a, and a -> c directly.
    graph = graph_of(
        declaration("a", 1, "A", (MaterialLine("Co", 1.0),), (Component("B", 2, 1), Component("C", 3, 1))),
        declaration("b", 2, "B", (MaterialLine("Co", 10.0),), (Component("C", 3, 1),)),
        declaration("c", 3, "C", (MaterialLine("Co", 100.0),), (Component("A", 1, 1),)),
    )
    figures = merge(graph)

    # a: 1 + (b: 10 + (c: 100 + cycle)) + (c: 100 + (a: cycle))
    assert figures["a"].materials["Co"]["mass_g"] == 211.0
    assert (figures["a"].components_total, figures["a"].components_declared) == (5, 3)
    assert figures["a"].gaps == {"cycle": 2}
    # c: 100 + (a: 1 + (b: 10 + (c: cycle)) + (c: cycle))
    assert figures["c"].materials["Co"]["mass_g"] == 111.0
    assert figures["c"].gaps == {"cycle": 2}


def in_house_group(size: int, *, dense: bool) -> ChainGraph:
    """`size` in-house parts of one issuer, part i with i + 1 g of cobalt: `dense`, each lists every
    other part once; else a ring, each lists the next. Part 0 also lists 2 x an outside leaf (1,000 g),
    and a product outside the group lists part 0."""
    parts = [
        declaration(
            f"p{i}",
            FAB,
            f"P{i}",
            (MaterialLine("Co", i + 1.0),),
            tuple(Component(f"P{j}", FAB, 1) for j in (range(size) if dense else [(i + 1) % size]) if j != i)
            + ((Component("LEAF", SMELTER, 2),) if i == 0 else ()),
        )
        for i in range(size)
    ]
    return graph_of(
        declaration("product", OEM, "PRODUCT", components=(Component("P0", FAB, 1),)),
        *parts,
        declaration("leaf", SMELTER, "LEAF", (MaterialLine("Co", 1000.0),)),
    )


def test_an_over_large_cycle_group_counts_every_component_into_it_as_a_cycle_gap():
    # 16 parts listing each other: 16 x 2^15 path states, far over the budget (minutes, exactly).
    merger = Merger(in_house_group(16, dense=True))
    figures = merger.compute_all()

    assert merger.capped(merger.cycle_group["p0"])
    # Each part: its own cobalt plus its components outside the group; 15 cycle gaps.
    assert figures["p0"].materials["Co"]["mass_g"] == 1.0 + 2 * 1000.0
    assert (figures["p0"].components_total, figures["p0"].components_declared) == (16, 1)
    assert figures["p0"].gaps == {"cycle": 15}
    assert figures["p0"].max_tier == 1
    assert figures["p7"].materials["Co"]["mass_g"] == 8.0
    assert (figures["p7"].components_total, figures["p7"].components_declared) == (15, 0)
    # Whatever the path, a member's figures are its figures as root.
    assert merger.on_path("p7", frozenset({"p0", "p3", "p7"})) == figures["p7"]
    # Outside the group nothing changes: the product holds 1 x part 0.
    assert figures["product"].materials["Co"]["mass_g"] == figures["p0"].materials["Co"]["mass_g"]
    assert figures["product"].gaps == {"cycle": 15}


def test_the_budget_keeps_groups_of_up_to_11_dense_parts_exact():
    merger = Merger(in_house_group(11, dense=True))
    over = Merger(in_house_group(12, dense=True))

    # 11 x 2^10 = 11,264 states; 12 x 2^11 = 24,576.
    assert 11 * 2**10 <= CYCLE_GROUP_BUDGET < 12 * 2**11
    assert not merger.capped(merger.cycle_group["p0"])
    assert over.capped(over.cycle_group["p0"])


def test_a_ring_of_30_stays_exact():
    merger = Merger(in_house_group(30, dense=False))
    figures = merger.compute_all()

    assert not merger.capped(merger.cycle_group["p0"])
    # p0 -> p1 -> ... -> p29 -> (p0: cycle gap): every part once, plus part 0's leaf.
    assert figures["p0"].materials["Co"]["mass_g"] == sum(range(1, 31)) + 2 * 1000.0
    assert (figures["p0"].components_total, figures["p0"].components_declared) == (31, 30)
    assert figures["p0"].gaps == {"cycle": 1}
    assert figures["p0"].max_tier == 29
    # p1 -> ... -> p29 -> p0 (and its leaf) -> (p1: cycle gap)
    assert figures["p1"].materials["Co"]["mass_g"] == sum(range(1, 31)) + 2 * 1000.0
    assert figures["p1"].max_tier == 30


def test_a_shared_child_counts_once_per_place_it_is_used():
    graph = graph_of(
        declaration("root", 1, "R", components=(Component("L", 2, 1), Component("M", 3, 1))),
        declaration("l", 2, "L", components=(Component("X", 4, 2),)),
        declaration("m", 3, "M", components=(Component("X", 4, 3),)),
        declaration("x", 4, "X", materials=(MaterialLine("Ta", 1.0),)),
    )
    figures = merge(graph)["root"]

    assert figures.materials["Ta"]["mass_g"] == 5.0
    assert (figures.components_total, figures.components_declared, figures.max_tier) == (4, 4, 2)


def test_a_child_outside_the_graph_is_taken_from_the_known_figures():
    known = own_figures(declaration("x", 4, "X", materials=(MaterialLine("Ta", 1.0),), components=()))
    known = Figures(known.grams, components_total=3, components_declared=2, max_tier=2, gaps={"open": 1})
    graph = ChainGraph(
        {"root": declaration("root", 1, "R", components=(Component("X", 4, 2),))}, current={(4, "X"): "x"}
    )
    figures = merge(graph, known={"x": known})["root"]

    assert figures.materials["Ta"]["mass_g"] == 2.0
    assert (figures.components_total, figures.components_declared, figures.max_tier) == (4, 3, 3)
    assert figures.gaps == {"open": 1}


def test_a_child_neither_in_the_graph_nor_known_is_an_error():
    graph = ChainGraph(
        {"root": declaration("root", 1, "R", components=(Component("X", 4, 2),))}, current={(4, "X"): "x"}
    )

    with pytest.raises(KeyError):
        merge(graph)


@pytest.mark.parametrize(
    ("component", "status", "expected"),
    [
        (Component("P", None, 1, request_disclosure=True), None, Resolution(gap="unknown_supplier")),
        (Component("P", 9, 1, request_disclosure=True), None, Resolution(gap="open")),
        (Component("P", 9, 1, request_disclosure=False), None, Resolution(gap="not_requested")),
        (Component("P", 9, 1, request_disclosure=False), "open", Resolution(gap="open")),
        (Component("P", 9, 1, request_disclosure=True), "declined", Resolution(gap="declined")),
        (Component("P", 9, 1, request_disclosure=True), "overdue", Resolution(gap="overdue")),
        (Component("P", 9, 1, request_disclosure=False), "answered", Resolution(gap="not_requested")),
        (Component("Q", 9, 1, request_disclosure=False), None, Resolution(declaration_id="q")),
    ],
)
def test_a_component_resolves_to_a_declaration_or_the_right_kind_of_gap(component, status, expected):
    requests = {} if status is None else {(OEM, 9, component.part_number): status}

    assert resolve_component(OEM, component, {(9, "Q"): "q"}, requests) == expected


def test_a_request_made_by_someone_else_does_not_decide_the_gap():
    component = Component("P", 9, 1, request_disclosure=True)

    assert resolve_component(OEM, component, {}, {(OTHER, 9, "P"): "declined"}) == Resolution(gap="open")


def test_strongly_connected_components_come_children_first():
    order = strongly_connected_components({"a": ["b"], "b": ["c", "a"], "c": ["d"], "d": [], "e": ["a", "x"]})

    groups = [frozenset(group) for group in order]
    assert set(groups) == {frozenset({"a", "b"}), frozenset({"c"}), frozenset({"d"}), frozenset({"e"})}
    assert (
        groups.index(frozenset({"d"})) < groups.index(frozenset({"c"})) < groups.index(frozenset({"a", "b"}))
    )
    assert groups.index(frozenset({"a", "b"})) < groups.index(frozenset({"e"}))


def test_a_long_chain_needs_no_deep_recursion():
    n = 5000
    chain = [
        declaration(f"d{i}", i, f"P{i}", (MaterialLine("Cu", 1.0),), (Component(f"P{i + 1}", i + 1, 1),))
        for i in range(n)
    ]
    figures = merge(graph_of(*chain), ["d0"])["d0"]

    assert figures.materials["Cu"]["mass_g"] == n
    assert figures.max_tier == n - 1


def test_rollup_view_lists_countries_by_mass_with_unknown_last_and_hides_float_noise():
    line = MaterialLine("Nd", 0.3, extraction=(Origin("AU", 0.1), Origin("CN", 0.2)), processing=())
    figures = merge(
        graph_of(
            declaration("r", 1, "R", components=(Component("M", 2, 3),)),
            declaration("m", 2, "M", materials=(line,)),
        )
    )["r"]

    view = rollup_view(figures)["Nd"]
    assert list(view["extraction"]) == ["CN", "AU", "unknown"]
    assert view["mass_g"] == 0.9
    assert view["processing"] == {"unknown": 0.9}
    assert "facilities" not in view


def test_the_materialised_form_round_trips_and_keeps_facilities_and_gap_counts():
    figures = merge(design_example())["root"]

    data = figures_to_data(figures)
    assert data["coverage"]["gaps"] == {"declined": 1, "unknown_supplier": 1}
    assert set(data["rollup"]["Ga"]) == {"mass_g", "recycled_g", "extraction", "processing", "facilities"}
    back = figures_from_data(data)
    assert rollup_view(back) == rollup_view(figures)
    assert coverage_view(back) == coverage_view(figures)
    assert back.gaps == figures.gaps
    assert back.materials["Ga"]["facilities"] == pytest.approx(figures.materials["Ga"]["facilities"])


def test_facility_masses_roll_up_with_the_quantities():
    graph = graph_of(
        declaration("r", 1, "R", components=(Component("G", 2, 4),)),
        declaration("g", 2, "G", materials=(ga(1.0, processing=0.5, facility="Jinlu Ga refinery"),)),
    )

    assert merge(graph)["r"].materials["Ga"]["facilities"] == {"Jinlu Ga refinery": 2.0}


SUPPLIER, LISTER, CUSTOMER, ABOVE, STRANGER = 10, 11, 12, 13, 14


@pytest.mark.parametrize(
    ("viewer", "authority", "disclose_to", "expected"),
    [
        (SUPPLIER, False, "authority", True),
        (LISTER, False, "authority", True),
        (STRANGER, True, "authority", True),
        (CUSTOMER, False, "authority", False),
        (CUSTOMER, False, "requester", True),
        (CUSTOMER, False, "chain", True),
        (ABOVE, False, "authority", False),
        (ABOVE, False, "requester", False),
        (ABOVE, False, "chain", True),
        (STRANGER, False, "chain", False),
        (None, False, "chain", False),
    ],
)
def test_the_redaction_rule_follows_design_md(viewer, authority, disclose_to, expected):
    assert (
        may_see_supplier(
            viewer_id=viewer,
            viewer_is_authority=authority,
            supplier_id=SUPPLIER,
            lister_id=LISTER,
            disclose_to=disclose_to,
            viewer_is_lister_customer=viewer == CUSTOMER,
            viewer_is_above_lister=viewer == ABOVE,
        )
        is expected
    )
