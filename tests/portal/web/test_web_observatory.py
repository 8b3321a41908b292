"""The ministry's observatory page: every programme's materials added up, by country, with no supplier
identity; who may open it, its audit-log entry, its JSON download; and the ways to it and back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from web_helpers import log_in

from tiertrace.audit.models import AuditLogEntry
from tiertrace.disclosure.models import DisclosureRequest

CSS = Path(__file__).resolve().parents[3] / "portal" / "web" / "static" / "portal.css"
NBSP = "\u00a0"
#: What the chain is made of and must never show on the observatory: organisations (slug and name),
#: the refiner, part numbers and programme names.
IDENTITIES = (
    "noordhaven",
    "Noordhaven Naval Shipyards",
    "lumen",
    "Lumen Compound",
    "brightwater",
    "Brightwater Yards",
    "Jinlu Gallium Refinery",
    "FRIGATE-9",
    "TRM-7",
    "CORVETTE-2",
    "OBS-P",
    "OBS-Q",
)


@pytest.fixture
def programmes(make_org, make_payload, submit, bus, session_factory):
    """Two programmes. OBS-P: a frigate with 1,000 g of aluminium (90 % mined in Guinea) and 4 modules
    from Lumen, each with 2 g of gallium 98 % refined in China at a named refinery (no mine known).
    OBS-Q: another yard's corvette with 2 g of gallium refined in Japan."""
    oem = make_org("noordhaven", name="Noordhaven Naval Shipyards B.V.")
    lumen = make_org("lumen", name="Lumen Compound GmbH", country="DE")
    other = make_org("brightwater", name="Brightwater Yards Ltd", country="GB")
    ministry = make_org("mod-nl", kind="authority", name="Ministry of Defence")
    root = submit(
        oem,
        make_payload(
            "noordhaven",
            "FRIGATE-9",
            program="OBS-P",
            materials=[{"material": "Al", "mass_g": 1000.0, "extraction": [{"country": "GN", "share": 0.9}]}],
            components=[
                {"part_number": "TRM-7", "supplier": "lumen", "quantity": 4, "request_disclosure": True}
            ],
        ),
    )
    bus.drain(20)
    with session_factory() as session:
        request_id = session.scalar(
            select(DisclosureRequest.id).where(DisclosureRequest.supplier_id == lumen.organization.id)
        )
    module = submit(
        lumen,
        make_payload(
            "lumen",
            "TRM-7",
            in_response_to=request_id,
            materials=[
                {
                    "material": "Ga",
                    "mass_g": 2.0,
                    "processing": [{"country": "CN", "share": 0.98, "facility": "Jinlu Gallium Refinery"}],
                }
            ],
        ),
    )
    corvette = submit(
        other,
        make_payload(
            "brightwater",
            "CORVETTE-2",
            program="OBS-Q",
            materials=[{"material": "Ga", "mass_g": 2.0, "processing": [{"country": "JP", "share": 1.0}]}],
        ),
    )
    bus.drain(20)
    return {
        "oem": oem,
        "lumen": lumen,
        "ministry": ministry,
        "root": root.id,
        "module": module.id,
        "corvette": corvette.id,
    }


def _text(html: str) -> str:
    """The page's text, tags dropped, white space collapsed, no-break spaces kept."""
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&nbsp;", NBSP)


def _row(html: str, table_id: str, header: str) -> str:
    """The text of the row of table `table_id` whose header cell starts with `header`."""
    table = html[html.index(f'id="{table_id}"') :].split("</table>", 1)[0]
    for row in table.split("<tr>")[1:]:
        if re.match(rf'\s*<th scope="row">{re.escape(header)} ', row):
            return _text(row).strip()
    raise AssertionError(f"no row {header} in {table_id}")


def test_the_ministry_sees_each_material_with_its_figures_across_programmes(client, programmes, signed_in):
    signed_in(programmes["ministry"])

    answer = client.get("/observatory")

    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "<h1>Observatory</h1>" in html
    assert "Every material in the 2 programmes on the portal" in _text(html)
    # Gallium: 4 x 2 g (98 % China) + 2 g (Japan) = 10 g, in both programmes; China 78.4 %, Japan 20 %.
    gallium = _row(html, "observatory-materials", "Ga")
    assert gallium.startswith(f"Ga Gallium 10{NBSP}g 2 ")
    assert f"unknown n/a 100{NBSP}% unknown" in gallium  # no mine is known
    assert f"CN 78{NBSP}% above 65{NBSP}% (non-EU) ≥{NBSP}6,547 1.6{NBSP}% unknown" in gallium
    assert (
        "strategic" in gallium and "critical" in gallium and "China licenses exports since 2023-08" in gallium
    )
    aluminium = _row(html, "observatory-materials", "Al")
    assert f"1{NBSP}kg 1 GN 90{NBSP}% above 65{NBSP}% (non-EU) ≥{NBSP}8,100 10{NBSP}% unknown" in aluminium
    # The audit's charts, one per stage, and the dependence on each country across materials.
    assert 'id="observatory-extraction"' in html and 'id="observatory-processing"' in html
    assert "<title>Ga CN China: " in html and "<title>Ga JP Japan: " in html
    # China: 78.4 % of gallium, none of the aluminium: 39 % on average over the two materials, 60 %
    # weighted by supply risk (gallium 3.9, aluminium 1.2); the top refiner of gallium, above 65 %.
    pct = f"{NBSP}%"
    assert _row(html, "dependence-processing-table", "CN") == (
        f"CN China 39{pct} 60{pct} Ga Ga Ga{NBSP}78{pct} (1) 7.84{NBSP}g"
    )
    assert (
        _row(html, "dependence-processing-table", "JP")
        == f"JP Japan 10{pct} 15{pct} – – Ga{NBSP}20{pct} (1) 2{NBSP}g"
    )
    assert _row(html, "dependence-extraction-table", "GN") == (
        f"GN Guinea 45{pct} 21{pct} Al Al Al{NBSP}90{pct} (1) 900{NBSP}g"
    )


def test_the_observatory_names_no_organisation_refiner_part_or_programme_of_the_chain(
    client, programmes, signed_in
):
    signed_in(programmes["ministry"])
    page = client.get("/observatory")
    download = client.get("/observatory/export.json")

    assert page.status_code == download.status_code == 200
    assert "<title>Ga CN China: " in page.get_data(as_text=True)  # the figures are there, the names not
    for body in (page.get_data(as_text=True), download.get_data(as_text=True)):
        lowered = body.lower()
        for identity in IDENTITIES:
            assert identity.lower() not in lowered, identity
        for declaration_id in (programmes["root"], programmes["module"], programmes["corvette"]):
            assert declaration_id not in body


def test_the_observatory_is_the_ministrys_alone(client, programmes, signed_in):
    for path in ("/observatory", "/observatory/export.json"):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"] == f"/login?next={path}"

    signed_in(programmes["oem"])
    for path in ("/observatory", "/observatory/export.json"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "text/html" in answer.content_type and "Not found" in answer.get_data(as_text=True)
    assert ">Observatory</a>" not in client.get("/programmes").get_data(as_text=True)


def test_each_read_of_the_observatory_is_audit_logged_like_the_apis(
    client, programmes, signed_in, session_factory
):
    def entries() -> list[AuditLogEntry]:
        # A session per look: an open read would hold SQLite's lock against the page's write.
        with session_factory() as session:
            query = select(AuditLogEntry).where(AuditLogEntry.action == "audit.observatory.read")
            return list(session.scalars(query))

    signed_in(programmes["ministry"])
    assert entries() == []
    assert client.get("/observatory").status_code == 200
    assert len(entries()) == 1
    assert client.get("/observatory/export.json").status_code == 200
    assert len(entries()) == 2
    assert client.get("/api/v1/observatory", headers=programmes["ministry"].headers).status_code == 200
    logged = entries()
    assert len(logged) == 3
    assert {(e.organization_id, e.subject, e.details["programmes"]) for e in logged} == {
        (programmes["ministry"].organization.id, "observatory", 2)
    }
    # Which door each read came through, as a report's entries say.
    assert sorted(e.details["via"] for e in logged) == ["api", "web", "web:json"]


def test_the_download_holds_the_apis_body(client, programmes, signed_in):
    signed_in(programmes["ministry"])

    answer = client.get("/observatory/export.json")
    api = client.get("/api/v1/observatory", headers=programmes["ministry"].headers).get_json()

    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert re.fullmatch(
        r'attachment; filename="tiertrace-observatory-\d{4}-\d\d-\d\d\.json"',
        answer.headers["Content-Disposition"],
    )
    body = json.loads(answer.get_data())
    assert body.pop("generated_at") and api.pop("generated_at")
    assert body == api


def test_the_ministry_finds_the_observatory_in_its_menu_and_on_the_audit(client, programmes, signed_in):
    signed_in(programmes["ministry"])
    page = client.get("/observatory").get_data(as_text=True)
    audit = client.get("/audit").get_data(as_text=True)

    assert '<a href="/observatory" aria-current="page">Observatory</a>' in page
    assert 'aria-current="page">Audit</a>' not in page
    assert 'aria-current="page">Audit</a>' in audit and 'aria-current="page">Observatory' not in audit
    assert re.search(r'Across programmes: <a href="/observatory">Observatory</a>', audit)


def test_with_no_programme_the_observatory_says_so(client, make_org, signed_in):
    signed_in(make_org("mod-nl", kind="authority"))
    html = client.get("/observatory").get_data(as_text=True)
    assert "No programme has declared any material yet" in html
    assert "observatory-materials" not in html


def test_a_chain_page_leads_the_ministry_alone_back_to_its_programmes_audit(
    app, client, programmes, signed_in, make_person
):
    signed_in(programmes["ministry"])
    root = client.get(f"/chains/{programmes['root']}").get_data(as_text=True)
    module = client.get(f"/chains/{programmes['module']}").get_data(as_text=True)
    oem = app.test_client()
    log_in(oem, make_person(programmes["oem"]))
    oem_root = oem.get(f"/chains/{programmes['root']}").get_data(as_text=True)

    assert '<a class="button secondary" href="/audit/OBS-P">Audit report: OBS-P</a>' in root
    assert client.get("/audit/OBS-P").status_code == 200  # where it leads
    assert 'href="/audit/' not in module  # Lumen's module carries no programme
    assert "<h1>Chain of FRIGATE-9" in oem_root
    assert 'href="/audit' not in oem_root and "Audit report" not in oem_root  # not the OEM's to open


def test_the_gap_tile_counts_in_words_that_agree_with_the_count(
    client, make_org, make_payload, submit, signed_in
):
    oem = make_org("noordhaven")

    def chain_with_gaps(count: int) -> str:
        components = [
            {"part_number": f"FOIL-{i}", "supplier": None, "supplier_name": "Moselle Foil SA", "quantity": 1}
            for i in range(count)
        ]
        root = submit(oem, make_payload("noordhaven", f"FRIGATE-{count}", components=components))
        return _text(client.get(f"/chains/{root.id}").get_data(as_text=True))

    signed_in(oem)

    assert " 1 gap listed " in chain_with_gaps(1)
    assert " 2 gaps listed " in chain_with_gaps(2)


def test_the_audit_counts_a_single_request_in_the_singular(client, programmes, signed_in):
    signed_in(programmes["ministry"])
    text = _text(client.get("/audit/OBS-P").get_data(as_text=True))
    assert f"100{NBSP}% response rate (1 request)" in text  # OBS-P asked Lumen, once


@pytest.mark.browser
@pytest.mark.parametrize("width", [1366, 390])
def test_the_observatory_fits_a_laptop_and_a_phone_with_names_in_view(
    client, programmes, signed_in, chromium, width
):
    signed_in(programmes["ministry"])
    html = client.get("/observatory").get_data(as_text=True)
    # The page as the browser gets it, with the portal's stylesheet in it rather than fetched.
    html = re.sub(r'<link rel="stylesheet"[^>]*>', lambda _: f"<style>{CSS.read_text()}</style>", html)
    page = chromium.new_page(viewport={"width": width, "height": 900})

    page.set_content(html)

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    tables = page.query_selector_all("table.sticky-first")
    assert len(tables) == 3  # materials, and the countries of each stage
    for table in tables:
        box = table.evaluate("t => t.parentElement.getBoundingClientRect().right")
        assert box <= width
        table.evaluate("t => { t.parentElement.scrollLeft = t.parentElement.scrollWidth; }")
        name = table.evaluate("t => t.tBodies[0].rows[0].cells[0].getBoundingClientRect()")
        assert name["left"] >= 0 and name["right"] <= box  # the material or country stays in view
    page.close()
