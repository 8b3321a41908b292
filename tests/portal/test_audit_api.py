"""GET /api/v1/audit/programs/{program} (JSON, CSV, XLSX) and GET /api/v1/observatory."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tiertrace.audit.exports import report_tables
from tiertrace.audit.models import AuditLogEntry
from tiertrace.audit.services import REPORT_READ

GALLIUM = {
    "material": "Ga",
    "mass_g": 0.25,
    "extraction": [{"country": "CN", "share": 0.8}],
    "processing": [{"country": "CN", "share": 0.98, "facility": "Jinlu refinery"}],
}


@pytest.fixture
def programme(client, make_org, make_payload, sign):
    """ZEEHAVIK: the OEM's ship lists 4 radar modules (answered, with gallium) and a foil nobody names."""
    members = {
        "oem": make_org("noordhaven", name="Noordhaven Naval Shipyards"),
        "radar": make_org("helder-sensors", name="Helder Sensor Systems"),
        "authority": make_org("ministry", kind="authority"),
        "operator": make_org("operator", kind="operator"),
    }
    request = client.post(
        "/api/v1/requests",
        json={"supplier": "helder-sensors", "part_number": "TRM-2040", "program": "ZEEHAVIK"},
        headers=members["oem"].headers,
    ).get_json()
    trm = make_payload("helder-sensors", "TRM-2040", in_response_to=request["id"], materials=[GALLIUM])
    root = make_payload(
        "noordhaven",
        "ZEEHAVIK-1",
        program="ZEEHAVIK",
        components=[
            {"part_number": "TRM-2040", "supplier": "helder-sensors", "quantity": 4},
            # A supplier's own text can look like a spreadsheet formula; exports must keep it text.
            {"part_number": "=1+1", "supplier": None, "supplier_name": "@Foil SA", "quantity": 1},
        ],
    )
    for who, payload in (("radar", trm), ("oem", root)):
        answer = client.post(
            "/api/v1/declarations", data=sign(members[who], payload), headers=members[who].headers
        )
        assert answer.status_code == 201, answer.get_json()
    return {"members": members, "root": root["id"], "trm": trm["id"]}


def get_report(client, programme, fmt=None, who="authority", program="ZEEHAVIK"):
    query = f"?format={fmt}" if fmt else ""
    headers = programme["members"][who].headers if who != "anonymous" else {}
    return client.get(f"/api/v1/audit/programs/{program}{query}", headers=headers)


def test_the_authority_reads_the_report_of_a_programme_as_json(client, programme):
    response = get_report(client, programme)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    report = response.get_json()
    assert {"program", "roots", "completeness", "risk", "gaps", "summary", "generated_at", "vintage"} <= set(
        report
    )
    assert (report["program"], report["roots"]) == ("ZEEHAVIK", [programme["root"]])
    assert report["summary"][0] == (
        "98 % of the programme's gallium is refined in China (HHI 9,604); "
        "China has licensed gallium exports since 2023-08."
    )
    assert report["risk"]["materials"]["Ga"]["mass_g"] == 1.0
    assert report["completeness"]["components_total"] == 2
    assert [g["kind"] for g in report["gaps"]] == ["unknown_supplier"]


@pytest.mark.parametrize(
    ("who", "status"), [("oem", 404), ("radar", 404), ("operator", 404), ("anonymous", 401)]
)
def test_only_the_authority_may_read_a_report(client, programme, who, status):
    for fmt in (None, "csv", "xlsx"):
        response = get_report(client, programme, fmt, who=who)
        assert response.status_code == status
        assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_an_unknown_programme_answers_404(client, programme):
    response = get_report(client, programme, program="NO-SUCH-SHIP")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_a_format_other_than_json_csv_or_xlsx_is_refused(client, programme):
    assert get_report(client, programme, "pdf").status_code == 422


def test_every_read_through_the_api_is_audit_logged(client, programme, session):
    get_report(client, programme)
    get_report(client, programme, "xlsx")
    entries = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == REPORT_READ)).all()
    assert [(e.subject, e.details["via"]) for e in entries] == [
        ("ZEEHAVIK", "api:json"),
        ("ZEEHAVIK", "api:xlsx"),
    ]


def test_the_csv_export_is_one_document_with_a_section_per_table(client, programme):
    response = get_report(client, programme, "csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="tiertrace-audit-ZEEHAVIK-') and disposition.endswith(
        '.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    sections = [row[0][1:-1] for row in rows if len(row) == 1 and row[0].startswith("[")]
    report = get_report(client, programme).get_json()
    assert sections == [table.name for table in report_tables(report)]
    materials = rows[rows.index(["[materials]"]) + 1 :]
    header, gallium = materials[0], materials[1]
    assert gallium[header.index("material")] == "Ga"
    assert float(gallium[header.index("processing_hhi")]) == 9604
    # Formula-looking supplier text is defused with a leading apostrophe.
    gaps = rows[rows.index(["[gaps]"]) + 1 :]
    assert gaps[1][gaps[0].index("part_number")] == "'=1+1"
    assert gaps[1][gaps[0].index("supplier_name")] == "'@Foil SA"


def test_the_xlsx_export_opens_with_openpyxl_with_one_sheet_per_table(client, programme):
    response = get_report(client, programme, "xlsx")
    assert response.status_code == 200
    assert (
        response.headers["Content-Type"]
        == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    workbook = load_workbook(io.BytesIO(response.data))
    report = get_report(client, programme).get_json()
    tables = report_tables(report)
    assert workbook.sheetnames == [table.name for table in tables]
    for table in tables:
        sheet = workbook[table.name]
        assert [cell.value for cell in sheet[1]] == list(table.columns)
        assert all(cell.font.bold for cell in sheet[1])
        assert sheet.freeze_panes == "A2"
        assert sheet.max_row == len(table.rows) + 1
    materials = workbook["materials"]
    header = [cell.value for cell in materials[1]]
    row = [cell.value for cell in materials[2]]
    # Numbers are stored as numbers, not as text.
    assert (row[header.index("mass_g")], row[header.index("processing_hhi")]) == (1, 9604)
    assert row[header.index("strategic")] is True
    assert materials.cell(row=2, column=header.index("processing_top_share") + 1).number_format == "0.0%"
    gaps = workbook["gaps"]
    part = gaps.cell(row=2, column=[c.value for c in gaps[1]].index("part_number") + 1)
    assert (part.value, part.data_type) == ("=1+1", "s")


def test_the_programme_list_is_for_the_authority(client, programme):
    listed = client.get("/api/v1/audit/programs", headers=programme["members"]["authority"].headers)
    assert listed.status_code == 200
    assert [
        (p["program"], p["components_total"], p["components_declared"]) for p in listed.get_json()["items"]
    ] == [("ZEEHAVIK", 2, 1)]
    assert (
        client.get("/api/v1/audit/programs", headers=programme["members"]["oem"].headers).status_code == 404
    )


def test_the_observatory_is_for_the_authority_and_names_no_supplier(client, programme):
    response = client.get("/api/v1/observatory", headers=programme["members"]["authority"].headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["programmes"] == 1
    assert body["materials"]["Ga"]["processing"]["countries"]["CN"]["share"] == 0.98
    text = response.get_data(as_text=True)
    for identity in ("noordhaven", "helder-sensors", "Helder", "Noordhaven", "Jinlu", "Foil", "ZEEHAVIK"):
        assert identity not in text
    assert programme["root"] not in text and programme["trm"] not in text
    for who in ("oem", "operator"):
        assert client.get("/api/v1/observatory", headers=programme["members"][who].headers).status_code == 404
    assert client.get("/api/v1/observatory").status_code == 401


def test_the_openapi_document_describes_the_audit_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/audit/programs/{program}" in paths
    assert "/api/v1/observatory" in paths
    parameters = paths["/api/v1/audit/programs/{program}"]["get"]["parameters"]
    assert "format" in {p["name"] for p in parameters}
