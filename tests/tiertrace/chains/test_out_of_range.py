"""Figures beyond the float range: stored as null, out of range in every ancestor, never a failed merge."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from overflow_support import (
    CORRECTED_GA_G,
    assert_root_out_of_range,
    correct_radar,
    file_overflow_chain,
    strict_json,
)
from sqlalchemy import Text, select

from tiertrace.chains.merge import (
    ChainGraph,
    Component,
    DeclarationFacts,
    MaterialLine,
    Origin,
    coverage_view,
    figures_from_data,
    figures_to_data,
    merge,
)
from tiertrace.chains.models import Rollup
from tiertrace.chains.services import chain_view
from tiertrace.organizations.models import Organization


def line(material: str, mass_g: float, country: str | None = None) -> MaterialLine:
    return MaterialLine(material, mass_g, extraction=(Origin(country, 1.0),) if country else ())


def graph_of(*declarations: DeclarationFacts, others: dict[tuple[int, str], str] | None = None) -> ChainGraph:
    """The declarations with what their components resolve to: each other, and `others` (stored)."""
    current = {(d.issuer_id, d.part_number): d.id for d in declarations}
    return ChainGraph({d.id: d for d in declarations}, {**current, **(others or {})})


def test_an_overflow_is_out_of_range_for_that_figure_only():
    # Two suppliers' gallium is each finite, as is every country's share of it; only the total is not.
    cn = DeclarationFacts("cn", 2, "CN-GA", (line("Ga", 1e308, "CN"), line("Ge", 1.0)))
    de = DeclarationFacts("de", 3, "DE-GA", (line("Ga", 1e308, "DE"),))
    top = DeclarationFacts(
        "top",
        1,
        "TOP",
        components=(Component("CN-GA", 2, 1.5), Component("DE-GA", 3, 1.0)),
    )
    figures = merge(graph_of(cn, de, top))["top"]

    data = figures_to_data(figures)
    ga = data["rollup"]["Ga"]
    assert ga["mass_g"] is None
    assert ga["extraction"] == {"CN": 1.5e308, "DE": 1e308, "unknown": 0.0}
    assert data["rollup"]["Ge"]["mass_g"] == 1.5
    assert data["coverage"]["traced"] == {
        "Ga": {"extraction": None, "processing": None},
        "Ge": {"extraction": 0.0, "processing": 0.0},
    }
    assert strict_json(json.dumps(data)) == data


def test_a_stored_null_is_out_of_range_again_in_every_ancestor_that_counts_it():
    child = DeclarationFacts("child", 2, "CHILD", (line("Ga", 1e300, "CN"), line("Ge", 1.0, "DE")))
    stored = figures_from_data(figures_to_data(merge(graph_of(child))["child"]))
    assert stored.grams[("Ga", "mass_g", "")] == 1e300  # in range: read back as it was

    middle = DeclarationFacts("middle", 3, "MIDDLE", components=(Component("CHILD", 2, 1e300),))
    top = DeclarationFacts("top", 1, "TOP", components=(Component("MIDDLE", 3, 0.5),))
    middle_data = figures_to_data(
        merge(graph_of(middle, others={(2, "CHILD"): "child"}), known={"child": stored})["middle"]
    )
    assert middle_data["rollup"]["Ga"]["mass_g"] is None

    # The parent merges the child's stored row, not its in-memory figures: null must mean infinite.
    figures = merge(
        graph_of(top, others={(3, "MIDDLE"): "middle"}), known={"middle": figures_from_data(middle_data)}
    )["top"]
    assert math.isinf(figures.grams[("Ga", "mass_g", "")])
    assert figures.grams[("Ge", "extraction", "DE")] == 5e299
    assert coverage_view(figures)["traced"]["Ga"] == {"extraction": None, "processing": None}
    assert figures_to_data(figures)["rollup"]["Ga"]["extraction"] == {"CN": None, "unknown": 0.0}


@pytest.fixture
def overflow(make_org, make_payload, submit, play_events):
    chain = file_overflow_chain(make_org, make_payload, submit)
    play_events()
    return chain


def stored_rollups(session) -> dict[str, dict]:
    """Each row's document as the database holds it, parsed as the chain view does: by orjson, which
    refuses NaN and Infinity (and reads PostgreSQL's 1000…0 for 1e300 as the float it is)."""
    rows = session.execute(select(Rollup.declaration_id, Rollup.data.cast(Text)))
    return {declaration_id: orjson.loads(text) for declaration_id, text in rows}


def test_the_merge_stores_an_overflow_as_null_and_keeps_every_other_figure(session, overflow):
    stored = stored_rollups(session)

    assert set(stored) == {
        overflow.root.id,
        overflow.radar_part.id,
        overflow.big_part.id,
        overflow.tiny_part.id,
        overflow.sane_part.id,
    }
    assert stored[overflow.big_part.id]["rollup"]["Ga"]["mass_g"] == 1e300
    radar = stored[overflow.radar_part.id]
    assert radar["rollup"]["Ga"]["mass_g"] is None
    assert radar["rollup"]["Nd"]["mass_g"] == 1e301
    assert_root_out_of_range(stored[overflow.root.id]["rollup"])
    assert stored[overflow.root.id]["coverage"]["traced"]["Ga"] == {"extraction": None, "processing": None}
    assert stored[overflow.root.id]["coverage"]["traced"]["Ge"] == {"extraction": 0.0, "processing": 0.0}


def test_a_corrected_declaration_makes_the_ancestors_finite_again(
    session, overflow, make_payload, submit, play_events
):
    corrected = correct_radar(overflow, make_payload, submit)
    play_events()

    stored = stored_rollups(session)
    assert stored[corrected.id]["rollup"]["Ga"]["mass_g"] == 1e300
    root = stored[overflow.root.id]
    assert root["rollup"]["Ga"]["mass_g"] == CORRECTED_GA_G
    assert root["rollup"]["Ga"]["extraction"] == {"CN": 1e300, "unknown": 1e300}
    assert root["rollup"]["Nd"]["mass_g"] == 20.0
    assert root["coverage"]["traced"]["Ga"] == {"extraction": 0.5, "processing": 0.0}


def test_the_chain_view_is_strict_json_with_each_figure_out_of_range_null(session, overflow):
    authority = session.get(Organization, overflow.authority.organization.id)
    view = strict_json(json.dumps(chain_view(session, overflow.root.id, authority)))

    assert_root_out_of_range(view["rollup"])
    assert view["coverage"]["traced"]["Ga"] == {"extraction": None, "processing": None}
    by_part = {node["part_number"]: node for node in view["nodes"]}
    assert by_part["RADAR-1"]["rollup"]["Ga"]["mass_g"] is None
    assert by_part["BIG-1"]["rollup"]["Ga"]["mass_g"] == 1e300
    assert by_part["BIG-1"]["quantity_in_root"] == 2e300
    # 2 x 1e300 x 1e10 TINY-1 per ship: a quantity out of range too.
    assert by_part["TINY-1"]["quantity_in_root"] is None
    assert by_part["TINY-1"]["quantity"] == 10_000_000_000
