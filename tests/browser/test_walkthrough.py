"""A supplier files a declaration signed in the browser; the OEM sees it in its tree; the ministry exports.

Everything goes through the real portal over HTTP on 127.0.0.1, with the embedded bus running so the
OEM's request reaches the supplier and the supplier's answer is merged into the OEM's chain.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import ARTIFACTS, log_in, person, screenshot
from sqlalchemy import select

from tiertrace import signing
from tiertrace.declarations.models import Declaration

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROGRAM = "ZEEHAVIK"
LAPTOP = {"width": 1280, "height": 860}
TABLET = {"width": 768, "height": 1024}


@pytest.fixture
def programme(make_org, make_payload, submit, bus, session_factory, tmp_path: Path):
    """ZEEHAVIK: the OEM declared its frigate with a T/R module from Lumen; the bus asked Lumen about it."""
    oem = make_org("noordhaven-naval", name="Noordhaven Naval Shipyards")
    supplier = make_org("lumen-compound", name="Lumen Compound Semiconductors", country="DE")
    make_org("silesia-cell-works", name="Silesia Cell Works", country="PL")
    ministry = make_org("mod-nl", kind="authority", name="Ministry of Defence (NL)")
    submit(
        oem,
        make_payload(
            "noordhaven-naval",
            "FRIGATE-ZH",
            program=PROGRAM,
            materials=[
                {
                    "material": "Nd",
                    "mass_g": 1250.0,
                    "extraction": [{"country": "CN", "share": 0.7}],
                    "processing": [{"country": "CN", "share": 0.9}],
                }
            ],
            components=[
                {
                    "part_number": "TRM-2040",
                    "supplier": "lumen-compound",
                    "quantity": 24,
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
    bus.drain(30)
    key_file = tmp_path / "lumen.key"
    signing.write_private_key(key_file, supplier.private_key)
    return {
        "supplier": person(session_factory, supplier.organization.id, "anna@lumen.example"),
        "oem": person(session_factory, oem.organization.id, "joost@noordhaven.example"),
        "ministry": person(session_factory, ministry.organization.id, "maartje@mod.example"),
        "key_file": key_file,
        "supplier_member": supplier,
    }


def test_supplier_signs_in_the_browser_oem_sees_the_node_ministry_exports(
    chromium, live_server, programme, bus, session_factory
):
    base = live_server
    errors: list[str] = []

    # --- the supplier ---------------------------------------------------------------------------------
    supplier = chromium.new_context(viewport=LAPTOP)
    page = supplier.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, base, programme["supplier"])
    inbox = page.locator("#inbox")
    assert "TRM-2040" in inbox.inner_text()
    assert "Noordhaven Naval Shipyards" in inbox.inner_text()
    screenshot(page, "supplier-inbox", docs=True)

    page.get_by_role("link", name="Declare TRM-2040").click()
    page.wait_for_url(re.compile(r"/requests/.+/declare$"))
    page.get_by_label("Part name").fill("GaN transmit/receive module")
    page.locator("#materials-0-material").select_option("Ga")
    page.locator("#materials-0-mass_g").fill("0.84")
    page.locator("#materials-0-extraction-0-country").fill("CN")
    page.locator("#materials-0-extraction-0-share").fill("0.9")
    page.locator("#materials-0-processing-0-country").fill("CN")
    page.locator("#materials-0-processing-0-share").fill("0.98")
    page.locator("#materials-0-processing-0-facility").fill("Hunan gallium refinery")
    # A row added without JavaScript: the page comes back with everything typed so far.
    page.get_by_role("button", name="Add a component").click()
    page.locator("#components-0-part_number").fill("MMIC-7")
    page.locator("#components-0-supplier").select_option("silesia-cell-works")
    page.locator("#components-0-quantity").fill("4")
    page.get_by_label("Only the ministry (and you and the supplier)").check()
    page.get_by_label("Statement").fill("Declared to the best of our knowledge from our refiner's reports.")
    assert page.locator("#materials-0-processing-0-facility").input_value() == "Hunan gallium refinery"
    screenshot(page, "declaration-editor", docs=True, top=True)

    # First without a key file: the page says so next to the signing field, nothing is sent.
    page.get_by_role("button", name="Sign and submit").click()
    assert "Choose your signing key file" in page.locator("#signing-js-error").inner_text()

    uploads: list[str] = []
    page.on(
        "request",
        lambda request: uploads.append(request.post_data or "") if request.method == "POST" else None,
    )
    page.locator("#key-file").set_input_files(str(programme["key_file"]))
    page.get_by_role("button", name="Sign and submit").click()
    page.wait_for_url(re.compile(r"/declarations/[0-9a-f-]{36}$"))
    assert "signed and filed" in page.locator(".flashes").inner_text()
    assert "Hunan gallium refinery" in page.content()
    private_pem = programme["key_file"].read_text()
    private_body = "".join(private_pem.strip().splitlines()[1:-1])
    assert uploads and not any(private_body in body or "PRIVATE KEY" in body for body in uploads)
    screenshot(page, "supplier-declaration")
    supplier.close()

    with session_factory() as session:
        declaration = session.scalar(select(Declaration).where(Declaration.part_number == "TRM-2040"))
        assert declaration is not None and declaration.keyid == programme["supplier_member"].keyid
        assert declaration.payload["materials"][0]["processing"][0]["facility"] == "Hunan gallium refinery"
    bus.drain(30)  # the answer is merged into the OEM's chain

    # --- the OEM ------------------------------------------------------------------------------------
    oem = chromium.new_context(viewport={"width": 1280, "height": 1080})
    page = oem.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, base, programme["oem"])
    page.get_by_role("link", name="Programmes").click()
    page.get_by_role("link", name=PROGRAM).click()
    tree = page.locator("ul.tree").first
    node = tree.locator("li.node:has(> details > summary > .node-part:text-is('TRM-2040'))")
    assert "Lumen Compound Semiconductors" in node.inner_text()
    # Lumen told only the ministry who makes its MMIC: the OEM sees the node, not the supplier.
    assert "undisclosed supplier" in node.inner_text()
    assert "Silesia" not in page.content()
    assert "gap: supplier unknown" in tree.inner_text()
    # The tree works from the keyboard: focus the node's summary, Enter closes and opens it.
    summary = node.locator("summary").first
    summary.focus()
    page.keyboard.press("Enter")
    assert node.locator("details").first.get_attribute("open") is None
    page.keyboard.press("Enter")
    assert node.locator("details").first.get_attribute("open") is not None
    assert page.locator("figure.chart svg.bars").count() == 2
    screenshot(page, "oem-tree", docs=True, top=True)
    screenshot(page, "oem-programme-full", full_page=True)
    oem.close()

    # --- the ministry -------------------------------------------------------------------------------
    ministry = chromium.new_context(viewport=LAPTOP, accept_downloads=True)
    page = ministry.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, base, programme["ministry"])
    page.get_by_role("link", name=PROGRAM).click()
    page.wait_for_url(re.compile(rf"/audit/{PROGRAM}$"))
    assert page.locator("table.heat").count() == 2
    assert "Silesia Cell Works" in page.content()  # the ministry sees the supplier the OEM may not
    screenshot(page, "ministry-audit", docs=True)
    screenshot(page, "ministry-audit-full", full_page=True)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export XLSX").click()
    download = download_info.value
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / download.suggested_filename
    download.save_as(str(target))
    assert target.suffix == ".xlsx"
    assert target.read_bytes()[:2] == b"PK"
    from openpyxl import load_workbook

    assert len(load_workbook(target, read_only=True).sheetnames) > 1
    ministry.close()

    assert errors == []


def test_pages_fit_a_tablet_without_sideways_scrolling(chromium, live_server, programme):
    context = chromium.new_context(viewport=TABLET)
    page = context.new_page()
    log_in(page, live_server, programme["supplier"])
    for path in ("/inbox", "/outbox", "/notifications", "/declarations/new", "/settings"):
        page.goto(f"{live_server}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a tablet"
    screenshot(page, "tablet-settings")
    context.close()
