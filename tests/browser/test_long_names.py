"""Names as long as the payload allows, with no space to break at, still fit a phone's screen.

An outside tester filed a part number of 100 characters, a part name of 300, a long programme name and a
3,000-character statement, none with a space: the programmes page grew to 2,945 px at 1366 px, the chain
page's heading ran off a phone's screen, and a declaration's page was 30,505 px wide at 390 px.
"""

from __future__ import annotations

import pytest
from browser_helpers import log_in, person, screenshot

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 860}


@pytest.fixture
def long_root(make_org, make_payload, submit, bus, session_factory):
    """The OEM's top-level declaration with every text as long as allowed and unbroken; (email, id)."""
    oem = make_org("noordhaven-naval", name="Noordhaven" + "N" * 150)
    payload = make_payload(
        "noordhaven-naval",
        "P" * 100,
        part={"number": "P" * 100, "name": "Q" * 300, "unit": "piece"},
        program="Z" * 70,
        statement="S" * 3000,
        components=[
            {
                "part_number": "C" * 100,
                "supplier": None,
                "supplier_name": "M" * 200,
                "supplier_country": "LU",
                "quantity": 1,
                "request_disclosure": True,
            }
        ],
    )
    declaration = submit(oem, payload)
    bus.drain(30)
    return person(session_factory, oem.organization.id, "joost@example.org"), declaration.id


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_pages_with_unbroken_long_names_do_not_scroll_sideways(chromium, live_server, long_root, viewport):
    email, root = long_root
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    log_in(page, live_server, email)
    wide = {}
    for path in ("/programmes", f"/chains/{root}", f"/declarations/{root}", "/declarations"):
        page.goto(f"{live_server}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            wide[path] = overflow
            screenshot(
                page, f"long-names-{viewport['width']}-{path.strip('/').split('/')[0]}", full_page=True
            )
    context.close()
    assert wide == {}, f"pages wider than the screen (px): {wide}"
