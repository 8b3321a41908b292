"""`tiertrace audit PROGRAM --format json|csv|xlsx --out FILE`, against the test database."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from cli.main import main
from tiertrace.audit.models import AuditLogEntry
from tiertrace.audit.services import REPORT_READ


@pytest.fixture
def programme(make_org, make_payload, submit):
    """ZEEHAVIK: a ship with 2 modules holding 0.5 g of gallium each, 90 % refined in China."""
    make_org("ministry", kind="authority")
    oem, radar = make_org("noordhaven"), make_org("helder-sensors")
    line = {"material": "Ga", "mass_g": 0.5, "processing": [{"country": "CN", "share": 0.9}]}
    submit(radar, make_payload("helder-sensors", "TRM-2040", materials=[line]))
    components = [{"part_number": "TRM-2040", "supplier": "helder-sensors", "quantity": 2}]
    return submit(oem, make_payload("noordhaven", "ZEEHAVIK-1", program="ZEEHAVIK", components=components))


def run(env, *args):
    return CliRunner().invoke(main, ["audit", *args], env=env)


def test_audit_writes_the_xlsx_workbook_to_the_out_file(env, programme, tmp_path):
    out = tmp_path / "zeehavik.xlsx"
    result = run(env, "ZEEHAVIK", "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    workbook = load_workbook(out)
    assert {"summary", "materials", "tiers", "gaps"} <= set(workbook.sheetnames)
    assert workbook["summary"]["B2"].value.startswith("90 % of the programme's gallium is refined in China")
    # Progress goes to stderr, never into the file or stdout.
    assert "building the audit report of ZEEHAVIK" in result.stderr
    assert f"wrote {out}" in result.stderr
    assert result.stdout == ""


def test_audit_prints_the_json_report_to_stdout_by_default(env, programme):
    result = run(env, "ZEEHAVIK")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["program"], report["roots"]) == ("ZEEHAVIK", [programme.id])
    assert report["risk"]["materials"]["Ga"]["mass_g"] == 1.0


def test_audit_writes_one_csv_document_with_a_section_per_table(env, programme, tmp_path):
    out = tmp_path / "zeehavik.csv"
    result = run(env, "ZEEHAVIK", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == ["[report]"] and rows[1] == ["field", "value"]
    assert ["[materials]"] in rows and ["[gaps]"] in rows


def test_an_out_file_that_cannot_be_written_fails_with_a_message_and_writes_nothing(env, programme, tmp_path):
    out = tmp_path / "nonexist" / "a.json"
    result = run(env, "ZEEHAVIK", "--format", "json", "--out", str(out))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert f"Error: cannot write {out}: No such file or directory." in result.stderr
    assert not out.parent.exists()


def test_the_csv_and_xlsx_tables_are_named_after_the_parts_of_the_report(env, programme, tmp_path):
    names = ["report", "summary", "completeness", "risk", "materials", "country_shares", "countries"]
    names += ["facilities", "tiers", "branches", "gaps", "declarations"]
    assert run(env, "ZEEHAVIK", "--format", "csv", "--out", str(tmp_path / "a.csv")).exit_code == 0
    assert run(env, "ZEEHAVIK", "--format", "xlsx", "--out", str(tmp_path / "a.xlsx")).exit_code == 0
    rows = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_text(encoding="utf-8"))))
    assert [row[0][1:-1] for row in rows if len(row) == 1 and row[0].startswith("[")] == names
    workbook = load_workbook(tmp_path / "a.xlsx")
    assert workbook.sheetnames == names

    def fields(sheet):
        return {row[0]: row[1] for row in workbook[sheet].iter_rows(min_row=2, values_only=True)}

    # DESIGN's report: program and roots in `report`, the completeness totals in `completeness`.
    assert fields("report")["program"] == "ZEEHAVIK" and fields("report")["roots"] == programme.id
    assert "components_total" not in fields("report")
    totals = fields("completeness")
    assert (totals["components_total"], totals["components_declared"], totals["max_tier"]) == (1, 1, 1)
    assert workbook["risk"]["E2"].value == "CN"  # the ranked risks: gallium refined in China


def test_every_run_is_audit_logged_with_who_ran_it(env, programme, session, tmp_path):
    assert run(env, "ZEEHAVIK", "--out", str(tmp_path / "a.json")).exit_code == 0
    assert run(env, "ZEEHAVIK", "--as", "ministry", "--out", str(tmp_path / "b.json")).exit_code == 0
    entries = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == REPORT_READ)).all()
    assert [e.details["via"].startswith("cli:") for e in entries] == [True, True]
    assert entries[0].organization_id is None
    assert entries[1].details["viewer"] == "ministry" and entries[1].organization_id is not None


def test_an_unknown_programme_fails_with_a_clear_message(env, programme):
    result = run(env, "NO-SUCH-SHIP")
    assert result.exit_code == 1
    assert "no programme 'NO-SUCH-SHIP'" in result.stderr


def test_as_must_name_an_authority(env, programme):
    result = run(env, "ZEEHAVIK", "--as", "noordhaven")
    assert result.exit_code == 2
    assert "not a registered authority" in result.stderr


def test_help_explains_the_formats_with_an_example():
    result = CliRunner().invoke(main, ["audit", "--help"])
    assert result.exit_code == 0
    assert "tiertrace audit ZEEHAVIK --format xlsx --out" in result.stdout
    assert "[json|csv|xlsx]" in result.stdout
