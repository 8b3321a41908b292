"""`tiertrace chain DECLARATION_ID [--as SLUG] [--depth N] [--json]`, against the test database."""

from __future__ import annotations

import json
import re

import pytest
from chain_support import ga_line
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from tiertrace.audit.models import AuditLogEntry


@pytest.fixture
def chain(make_org, make_payload, submit):
    """A ship with 4 radar modules whose maker keeps its MMIC fab for the authority, and a declined casing.

    The ship is counted in ships and the MMIC die in cm2 of wafer; the radar module in pieces."""
    make_org("ministry", kind="authority")
    oem = make_org("noordhaven", name="Noordhaven Naval Shipyards")
    radar = make_org("helder-sensors", name="Helder Sensor Systems")
    fab = make_org("lumen-compound", name="Lumen Compound Semiconductors", country="DE")
    make_org("ijssel-casings", name="IJssel Casings")
    die = {"number": "MMIC-7", "name": "MMIC die", "unit": "cm2"}
    submit(fab, make_payload("lumen-compound", "MMIC-7", part=die, materials=[ga_line(0.25)]))
    submit(
        radar,
        make_payload(
            "helder-sensors",
            "TRM-2040",
            components=[{"part_number": "MMIC-7", "supplier": "lumen-compound", "quantity": 2}],
        ),
    )
    components = [
        {"part_number": "TRM-2040", "supplier": "helder-sensors", "quantity": 4},
        {"part_number": "CASE-1", "supplier": "ijssel-casings", "quantity": 1, "request_disclosure": True},
        {
            "part_number": "FOIL-2",
            "supplier": None,
            "supplier_name": "Moselle Foil SA",
            "supplier_country": "LU",
            "quantity": 0.5,
        },
    ]
    ship = {"number": "ZEEHAVIK-1", "name": "frigate", "unit": "ship"}
    return submit(
        oem, make_payload("noordhaven", "ZEEHAVIK-1", part=ship, program="ZEEHAVIK", components=components)
    )


def run(env, *args):
    return CliRunner().invoke(main, ["chain", *args], env=env)


def test_chain_prints_the_tree_with_box_drawing_suppliers_gaps_and_materials(env, chain):
    result = run(env, chain.id)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Chain of ZEEHAVIK-1 — declared by noordhaven (Noordhaven Naval Shipyards, NL)"
    assert "viewed as the authority (operator console)" in lines[1]
    tree = [line for line in lines if line.startswith(("[", "├", "└", "│", " "))]
    # Each quantity in units of its own part; a gap names no unit (no declaration says it).
    assert tree[0].startswith("[0] ZEEHAVIK-1 ×1 ship · noordhaven")
    assert tree[1].startswith(
        "├─ [1] TRM-2040 ×4 piece · helder-sensors (Helder Sensor Systems, NL) · Ga 0.5 g"
    )
    assert tree[2].startswith(
        "│  └─ [2] MMIC-7 ×2 cm2 · lumen-compound (Lumen Compound Semiconductors, DE) · Ga 0.25 g"
    )
    assert "(ext CN 80%, unknown 20%; proc CN 98%, unknown 2%)" in tree[2]
    assert (
        tree[3]
        == "├─ [1] CASE-1 ×1 · GAP: no answer yet (request open) · ijssel-casings (IJssel Casings, NL)"
    )
    assert tree[4] == "└─ [1] FOIL-2 ×0.5 · GAP: supplier unknown · Moselle Foil SA (LU, not on the portal)"


def test_chain_prints_the_rollup_table_and_the_coverage(env, chain):
    result = run(env, chain.id)

    out = result.stdout
    assert "Rollup per unit of ZEEHAVIK-1 (ship):" in out
    table = out.split("Rollup per unit of ZEEHAVIK-1 (ship):\n", 1)[1].splitlines()
    assert table[0].split() == ["material", "mass", "(g)", "recycled", "(g)", "extraction", "processing"]
    assert table[1].split() == ["Ga", "2", "0", "CN", "80%,", "unknown", "20%", "CN", "98%,", "unknown", "2%"]
    assert "Coverage: 2 of 4 components declared (50%); deepest tier: 2" in out
    assert "Ga: 80% of the mass traced to an extraction country, 98% to a processing country" in out
    assert "gaps: 1 open, 1 unknown supplier" in out


def test_chain_prints_every_mass_readably_never_in_scientific_notation(env, make_org, make_payload, submit):
    hull = make_org("noordhaven", name="Noordhaven Naval Shipyards")
    lines = [
        {"material": "Al", "mass_g": 15029860.3, "recycled_share": 0.25},
        {"material": "Ga", "mass_g": 0.000125},
    ]
    declaration = submit(hull, make_payload("noordhaven", "HULL-1", materials=lines))

    result = run(env, declaration.id)

    assert result.exit_code == 0, result.output
    assert not re.search(r"\de[+-]\d", result.stdout.replace(declaration.id, ""))  # the id may hold "3e-4"
    assert "· Al 15,029,860 g (ext unknown 100%; proc unknown 100%), Ga 0.000125 g (" in result.stdout
    table = result.stdout.split("Rollup per unit of HULL-1 (piece):\n", 1)[1].splitlines()
    assert table[1].split()[:3] == ["Al", "15,029,860", "3,757,465"]
    assert table[2].split()[:3] == ["Ga", "0.000125", "0"]


def test_as_shows_the_organisations_redacted_view(env, chain):
    result = run(env, chain.id, "--as", "noordhaven")

    assert result.exit_code == 0, result.output
    assert "lumen-compound" not in result.stdout
    assert "Lumen" not in result.stdout
    # Nor its unit: the hidden supplier wrote it.
    assert "│  └─ [2] (part withheld) ×2 · undisclosed supplier · Ga 0.25 g" in result.stdout
    assert "cm2" not in result.stdout
    assert "viewed as noordhaven" in result.stdout


def test_an_organisation_that_may_not_see_the_chain_gets_a_clear_error(env, chain):
    result = run(env, chain.id, "--as", "ijssel-casings")

    assert result.exit_code == 1
    assert "no such declaration, or 'ijssel-casings' may not see it" in result.stderr


def test_an_unknown_organisation_is_a_usage_error(env, chain):
    result = run(env, chain.id, "--as", "nobody")

    assert result.exit_code == 2
    assert "no organisation 'nobody'" in result.stderr


def test_depth_cuts_the_tree_and_says_so(env, chain):
    result = run(env, chain.id, "--depth", "1")

    assert result.exit_code == 0, result.output
    assert "[2]" not in result.stdout
    assert "… truncated: 4 nodes listed" in result.stdout
    assert "Coverage: 2 of 4 components declared" in result.stdout


def test_json_prints_the_api_response(env, chain):
    result = run(env, chain.id, "--json", "--max-nodes", "2")

    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["root"] == chain.id
    assert view["truncated"] is True
    assert len(view["nodes"]) == 2
    assert view["rollup"]["Ga"]["mass_g"] == 2


def test_the_default_authority_view_is_audit_logged_with_who_ran_it(env, chain, session):
    run(env, chain.id)
    run(env, chain.id, "--as", "noordhaven")

    entries = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == "chain.read")).all()
    assert [(e.organization_id, e.subject) for e in entries] == [(None, chain.id)]
    assert entries[0].details["via"].startswith("cli:")
