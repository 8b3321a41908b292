"""`tiertrace chain` and `tiertrace audit` on a chain whose figures overflow the float range: strict
JSON with nulls, "out of range" in the tree, never a traceback."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from overflow_support import PROGRAM, assert_root_out_of_range, file_overflow_chain, strict_json

from cli.main import main


@pytest.fixture
def chain(make_org, make_payload, submit):
    return file_overflow_chain(make_org, make_payload, submit)


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env)


def test_chain_json_is_strict_json_with_each_figure_out_of_range_null(env, chain):
    result = run(env, "chain", chain.root.id, "--json")

    assert result.exit_code == 0, result.output
    view = strict_json(result.stdout)
    assert_root_out_of_range(view["rollup"])
    assert view["coverage"]["traced"]["Ga"] == {"extraction": None, "processing": None}


def test_the_chain_tree_reads_out_of_range(env, chain):
    result = run(env, "chain", chain.root.id)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[3].startswith("[0] SHIP-1 ×1 piece · shipyard (Shipyard BV, NL) · Ga out of range, Nd 2")
    assert lines[4].startswith(
        "├─ [1] RADAR-1 ×2 piece · radar-maker (Radar Maker GmbH, DE) · Ga out of range"
    )
    assert lines[5].startswith("│  └─ [2] BIG-1 ×1e+300 piece") and "· Ga 1e+300 g" in lines[5]
    table = lines[lines.index("Rollup per unit of SHIP-1 (piece):") + 2]
    assert table.split() == ["Ga", "out", "of", "range", "0", "out", "of", "range", "out", "of", "range"]
    assert "  Ga: out of range of the mass traced to an extraction country, out of range to a processing" in (
        result.stdout
    )


def test_the_audit_names_the_overflow_in_json_and_marks_it_in_csv(env, chain):
    result = run(env, "audit", PROGRAM)
    assert result.exit_code == 0, result.output
    report = strict_json(result.stdout)
    assert report["risk"]["ranked"][0]["kind"] == "out_of_range"

    result = run(env, "audit", PROGRAM, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    header = rows.index(["[materials]"]) + 1
    ga = next(row for row in rows[header + 1 :] if row[0] == "Ga")
    marked = dict(zip(rows[header], ga, strict=True))
    assert (marked["mass_g"], marked["out_of_range"]) == ("", "true")
