"""The OEM's programme and chain pages and the ministry's audit: the chain tree, charts, gaps, exports."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from tiertrace.audit.models import AuditLogEntry
from tiertrace.declarations.models import Declaration
from tiertrace.disclosure.models import DisclosureRequest

PROGRAM = "ZEEHAVIK-T"


@pytest.fixture
def chain(make_org, make_payload, submit, bus, session_factory):
    """OEM -> Tier-1 (answered, disclosed to its requester) -> Tier-2 (open); and an unregistered one."""
    oem = make_org("noordhaven", name="Noordhaven Naval")
    tier1 = make_org("lumen", name="Lumen Compound GmbH", country="DE")
    tier2 = make_org("silesia", name="Silesia Cell Works", country="PL")
    ministry = make_org("mod-nl", kind="authority", name="Ministry of Defence")
    root = submit(
        oem,
        make_payload(
            "noordhaven",
            "FRIGATE-1",
            program=PROGRAM,
            materials=[{"material": "Nd", "mass_g": 1200.0, "extraction": [{"country": "CN", "share": 0.7}]}],
            components=[
                {
                    "part_number": "TRM-2040",
                    "supplier": "lumen",
                    "quantity": 4,
                    "request_disclosure": True,
                    "disclose_supplier_to": ["requester"],
                },
                {
                    "part_number": "FOIL-2",
                    "supplier": None,
                    "supplier_name": "Moselle Foil SA",
                    "supplier_country": "LU",
                    "quantity": 1,
                    "request_disclosure": True,
                },
            ],
        ),
    )
    bus.drain(20)
    with session_factory() as session:
        request_id = session.scalar(
            select(DisclosureRequest.id).where(DisclosureRequest.supplier_id == tier1.organization.id)
        )
    submit(
        tier1,
        make_payload(
            "lumen",
            "TRM-2040",
            in_response_to=request_id,
            materials=[
                {
                    "material": "Ga",
                    "mass_g": 0.84,
                    "extraction": [{"country": "CN", "share": 0.9}],
                    "processing": [{"country": "CN", "share": 0.98}],
                }
            ],
            components=[
                {"part_number": "CELL-9", "supplier": "silesia", "quantity": 2, "request_disclosure": True}
            ],
        ),
    )
    bus.drain(20)
    return {"oem": oem, "tier1": tier1, "tier2": tier2, "ministry": ministry, "root": root.id}


def test_the_programme_page_shows_the_tree_gaps_and_charts(client, chain, signed_in):
    signed_in(chain["oem"])
    assert PROGRAM in client.get("/programmes").get_data(as_text=True)
    page = client.get(f"/programmes/{PROGRAM}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "FRIGATE-1" in html and "TRM-2040" in html
    assert "Lumen Compound GmbH" in html  # the Tier-1 disclosed itself to its requester
    assert "undisclosed supplier" in html  # Tier-2 was not disclosed to the OEM
    assert "Silesia" not in html
    assert "Moselle Foil SA" in html
    assert "gap: request open" in html and "gap: supplier unknown" in html
    assert html.count('class="chart"') == 2  # extraction and processing
    assert re.search(r'<rect x="0\.0000%" y="\d+" width="[\d.]+%" height="18" fill="#0072B2"', html)
    assert "1 / 3" in html  # components declared


def test_a_supplier_sees_its_own_subtree_with_its_supplier_named(client, chain, signed_in, session_factory):
    from tiertrace.declarations.models import Declaration

    with session_factory() as session:
        tier1_declaration = session.scalar(
            select(Declaration.id).where(Declaration.issuer_id == chain["tier1"].organization.id)
        )
    signed_in(chain["tier1"])
    html = client.get(f"/chains/{tier1_declaration}").get_data(as_text=True)
    assert "Silesia Cell Works" in html  # it listed that supplier itself
    assert client.get(f"/chains/{chain['root']}").status_code == 404  # not its customer's chain


def test_the_ministry_sees_completeness_the_report_the_heat_map_and_exports(
    client, chain, signed_in, session_factory
):
    with session_factory() as session:
        late = session.scalar(
            select(DisclosureRequest).where(DisclosureRequest.supplier_id == chain["tier2"].organization.id)
        )
        late.status = "overdue"
        session.commit()
    signed_in(chain["ministry"])
    index = client.get("/audit").get_data(as_text=True)
    assert PROGRAM in index and "(1 of 3)" in index

    page = client.get(f"/audit/{PROGRAM}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Silesia Cell Works" in html  # the authority sees every identity
    assert 'class="heat"' in html and "heat-9" in html
    overdue = html[html.index('id="overdue"') : html.index("All gaps")]
    assert "Silesia Cell Works" in overdue and "CELL-9" in overdue
    for fmt in ("json", "csv", "xlsx"):
        assert f"/audit/export/{fmt}/{PROGRAM}" in html

    xlsx = client.get(f"/audit/export/xlsx/{PROGRAM}")
    assert xlsx.status_code == 200
    assert xlsx.content_type.startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert xlsx.get_data()[:2] == b"PK"
    assert ".xlsx" in xlsx.headers["Content-Disposition"]
    as_json = client.get(f"/audit/export/json/{PROGRAM}").get_json()
    assert as_json["program"] == PROGRAM
    assert client.get(f"/audit/export/pdf/{PROGRAM}").status_code == 404
    assert client.get("/audit/NOPE").status_code == 404


@pytest.fixture
def answered_chain(chain, make_payload, submit, bus, session_factory):
    """`chain`, with the Tier-2 answering the Tier-1 (who does not disclose it further up)."""
    with session_factory() as session:
        request_id = session.scalar(
            select(DisclosureRequest.id).where(
                DisclosureRequest.supplier_id == chain["tier2"].organization.id
            )
        )
    cell = submit(
        chain["tier2"],
        make_payload(
            "silesia",
            "CELL-9",
            in_response_to=request_id,
            materials=[{"material": "Co", "mass_g": 3.0, "extraction": [{"country": "CD", "share": 0.75}]}],
        ),
    )
    bus.drain(20)
    return {**chain, "cell": cell.id}


def _sections(csv_text: str) -> dict[str, list[dict[str, str]]]:
    """The `[name]` sections of an exported CSV, each as rows keyed by its header."""
    sections: dict[str, list[dict[str, str]]] = {}
    rows = list(csv.reader(io.StringIO(csv_text)))
    for index, row in enumerate(rows):
        if len(row) == 1 and row[0].startswith("["):
            header, body = rows[index + 1], []
            for line in rows[index + 2 :]:
                if not line:
                    break
                body.append(dict(zip(header, line, strict=True)))
            sections[row[0][1:-1]] = body
    return sections


def _xlsx_text(content: bytes) -> bytes:
    """Every member of an XLSX (a zip of XML) decompressed and joined."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return b"\n".join(archive.read(name) for name in archive.namelist())


def test_the_oem_downloads_its_chain_as_csv_xlsx_and_json(client, answered_chain, signed_in):
    signed_in(answered_chain["oem"])
    root = answered_chain["root"]
    html = client.get(f"/chains/{root}").get_data(as_text=True)
    for fmt in ("json", "csv", "xlsx"):
        assert f'href="/chains/{root}/export.{fmt}" download>Export {fmt.upper()}</a>' in html

    answer = client.get(f"/chains/{root}/export.csv")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="tiertrace-chain-FRIGATE-1-\d{4}-\d\d-\d\d\.csv"',
        answer.headers["Content-Disposition"],
    )
    tables = _sections(answer.get_data(as_text=True))
    assert list(tables) == ["nodes", "rollup", "coverage"]
    nodes = {row["path"]: row for row in tables["nodes"]}
    assert list(nodes) == [
        "FRIGATE-1",
        "FRIGATE-1 > TRM-2040",
        "FRIGATE-1 > TRM-2040 > undisclosed",
        "FRIGATE-1 > FOIL-2",
    ]  # depth first, in tree order
    trm = nodes["FRIGATE-1 > TRM-2040"]
    assert (trm["supplier_slug"], trm["supplier_name"], trm["supplier_country"]) == (
        "lumen",
        "Lumen Compound GmbH",
        "DE",
    )
    assert (trm["tier"], trm["quantity"], trm["kind"]) == ("1", "4", "declaration")
    assert trm["declaration_id"]  # the Tier-1 disclosed itself to its requester
    cell = nodes["FRIGATE-1 > TRM-2040 > undisclosed"]
    assert (cell["part_number"], cell["supplier_slug"], cell["supplier_name"], cell["declaration_id"]) == (
        "",
        "",
        "undisclosed",
        "",
    )
    assert (cell["tier"], cell["quantity_in_root"], cell["kind"]) == ("2", "8", "declaration")
    foil = nodes["FRIGATE-1 > FOIL-2"]
    assert (foil["supplier_name"], foil["kind"], foil["gap"]) == (
        "Moselle Foil SA",
        "gap",
        "unknown_supplier",
    )
    # The undisclosed supplier's cobalt still counts: 4 modules x 2 cells x 3 g, 75 % mined in Congo.
    cobalt = {(r["stage"], r["country"]): r for r in tables["rollup"] if r["material"] == "Co"}
    assert float(cobalt[("extraction", "CD")]["mass_g"]) == 18.0
    assert float(cobalt[("extraction", "CD")]["share"]) == 0.75
    assert float(cobalt[("processing", "unknown")]["material_mass_g"]) == 24.0
    coverage = {row["field"]: row["value"] for row in tables["coverage"]}
    assert (coverage["components_total"], coverage["components_declared"], coverage["max_tier"]) == (
        "3",
        "2",
        "2",
    )
    assert float(coverage["traced_Co_extraction"]) == 0.75

    xlsx = client.get(f"/chains/{root}/export.xlsx")
    assert xlsx.status_code == 200
    assert xlsx.headers["Content-Disposition"].endswith('.xlsx"')
    workbook = load_workbook(io.BytesIO(xlsx.data))
    assert workbook.sheetnames == ["nodes", "rollup", "coverage"]
    sheet = workbook["nodes"]
    header = [cell.value for cell in sheet[1]]
    assert [row[header.index("path")] for row in sheet.iter_rows(min_row=2, values_only=True)] == list(nodes)
    assert sheet.cell(row=3, column=header.index("supplier_name") + 1).value == "Lumen Compound GmbH"

    as_json = client.get(f"/chains/{root}/export.json")
    assert as_json.headers["Content-Disposition"].endswith('.json"')
    assert as_json.get_json()["coverage"]["components_total"] == 3


def test_an_exported_chain_names_no_supplier_the_viewer_may_not_learn(client, answered_chain, signed_in):
    signed_in(answered_chain["oem"])
    root = answered_chain["root"]
    csv_bytes = client.get(f"/chains/{root}/export.csv").data
    xlsx_bytes = client.get(f"/chains/{root}/export.xlsx").data
    for fmt, content in (("csv", csv_bytes), ("xlsx", _xlsx_text(xlsx_bytes))):
        lowered = content.lower()
        # Tier-2's slug, name (both contain "silesia"), part number and declaration id.
        for secret in ("silesia", "cell-9", answered_chain["cell"]):
            assert secret.encode() not in lowered, (fmt, secret)
        assert b"lumen compound gmbh" in lowered and b"undisclosed" in lowered, fmt
    # The hidden supplier's cobalt still counts: 4 x 2 x 3 g.
    rollup = _sections(csv_bytes.decode("utf-8"))["rollup"]
    assert {float(row["material_mass_g"]) for row in rollup if row["material"] == "Co"} == {24.0}
    sheet = load_workbook(io.BytesIO(xlsx_bytes))["rollup"]
    assert ("Co", 24) in {row[:2] for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_the_authority_sees_every_supplier_and_its_export_is_audit_logged(
    client, answered_chain, signed_in, session
):
    signed_in(answered_chain["ministry"])
    content = client.get(f"/chains/{answered_chain['root']}/export.csv").get_data(as_text=True)
    assert "Silesia Cell Works" in content and answered_chain["cell"] in content
    entries = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == "chain.read")).all()
    assert [(e.subject, e.details["via"]) for e in entries] == [(answered_chain["root"], "web:csv")]


def test_the_authoritys_chain_and_programme_page_views_are_audit_logged_as_web(
    client, answered_chain, signed_in, session
):
    """The page views wrote `via: null`, so an auditor of the log could not tell them from nothing."""
    signed_in(answered_chain["ministry"])
    assert client.get(f"/chains/{answered_chain['root']}").status_code == 200
    assert client.get(f"/programmes/{PROGRAM}").status_code == 200
    entries = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == "chain.read")).all()
    assert [(e.subject, e.details["via"]) for e in entries] == [(answered_chain["root"], "web")] * 2


def test_a_chain_export_is_404_for_other_companies_and_unknown_formats(client, answered_chain, signed_in):
    signed_in(answered_chain["tier2"])
    root = answered_chain["root"]
    assert client.get(f"/chains/{root}/export.csv").status_code == 404  # not its customer's chain
    assert client.get(f"/chains/{answered_chain['cell']}/export.csv").status_code == 200  # its own
    assert client.get(f"/chains/{answered_chain['cell']}/export.pdf").status_code == 404
    assert client.get("/chains/no-such-declaration/export.csv").status_code == 404


def test_a_customer_reading_a_declaration_page_does_not_learn_a_supplier_sealed_for_the_authority(
    client, chain, signed_in, session_factory
):
    """Lumen lists Silesia for the authority only. The OEM, Lumen's customer, may read Lumen's declaration
    (the API blanks Silesia and withholds the envelope, whose signed bytes name it); the page and its
    envelope download used the raw payload and bytes."""
    with session_factory() as session:
        lumen_declaration = session.scalar(
            select(Declaration.id).where(Declaration.issuer_id == chain["tier1"].organization.id)
        )
    signed_in(chain["oem"])

    page = client.get(f"/declarations/{lumen_declaration}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "TRM-2040" in html and "undisclosed part" in html  # the declaration and its component line
    assert "CELL-9" not in html  # a supplier's part numbers identify it (as in the chain view)
    assert "silesia" not in html.lower() and "not disclosed to you" in html
    assert "envelope.json" not in html
    assert client.get(f"/declarations/{lumen_declaration}/envelope.json").status_code == 404


@pytest.mark.parametrize("reader", ["tier1", "ministry"])
def test_the_issuer_and_the_authority_still_read_the_whole_declaration_and_its_envelope(
    client, chain, signed_in, session_factory, reader
):
    with session_factory() as session:
        lumen_declaration = session.scalar(
            select(Declaration.id).where(Declaration.issuer_id == chain["tier1"].organization.id)
        )
    signed_in(chain[reader])
    assert "Silesia Cell Works" in client.get(f"/declarations/{lumen_declaration}").get_data(as_text=True)
    envelope = client.get(f"/declarations/{lumen_declaration}/envelope.json")
    assert envelope.status_code == 200 and b"payloadType" in envelope.data


def test_a_superseded_chain_links_the_chain_of_the_version_that_replaced_it(
    client, make_org, make_payload, submit, signed_in
):
    oem = make_org("noordhaven")
    old = submit(oem, make_payload("noordhaven", "FRIGATE-1"))
    new = submit(oem, make_payload("noordhaven", "FRIGATE-1", supersedes=old.id))
    signed_in(oem)

    html = client.get(f"/chains/{old.id}").get_data(as_text=True)

    assert "This version was superseded" in html and f'href="/chains/{new.id}"' in html
    assert "This version was superseded" not in client.get(f"/chains/{new.id}").get_data(as_text=True)


def test_quantities_and_masses_in_the_tree_name_the_unit_of_their_part(
    client, make_org, make_payload, submit, bus, session_factory, signed_in
):
    # 0.158 of a substrate per die means nothing until it reads 0.158 cm2; the ship is counted in ships.
    oem = make_org("noordhaven", name="Noordhaven Naval")
    supplier = make_org("nordic-sic", name="Nordic SiC Wafers AB", country="SE")
    root = submit(
        oem,
        make_payload(
            "noordhaven",
            "SHIP-1",
            part={"number": "SHIP-1", "name": "frigate", "unit": "ship"},
            components=[
                {
                    "part_number": "SUB-4H",
                    "supplier": "nordic-sic",
                    "quantity": 0.158,
                    "request_disclosure": True,
                }
            ],
        ),
    )
    bus.drain(20)
    with session_factory() as session:
        request_id = session.scalar(
            select(DisclosureRequest.id).where(DisclosureRequest.supplier_id == supplier.organization.id)
        )
    submit(
        supplier,
        make_payload(
            "nordic-sic",
            "SUB-4H",
            part={"number": "SUB-4H", "name": "SiC substrate", "unit": "cm2"},
            in_response_to=request_id,
            materials=[{"material": "Si", "mass_g": 0.0786, "extraction": [{"country": "NO", "share": 1}]}],
        ),
    )
    bus.drain(20)
    signed_in(oem)
    html = client.get(f"/chains/{root.id}").get_data(as_text=True)
    assert '<span class="node-qty">× 0.158 cm2</span>' in html
    assert "Figures are per one ship of SHIP-1" in html
    assert '<th scope="col">Mass per ship</th>' in html
