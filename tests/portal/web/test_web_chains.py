"""The OEM's programme page and the ministry's audit: the chain tree, charts, gaps, exports."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

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
