"""How pages show figures and find their way: masses, quantities, timestamps, one wording, menus, errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import select
from web_helpers import log_in

from portal.web.base import format_mass, format_quantity, format_timestamp
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.services import decline_request
from tiertrace.organizations.models import Organization

PROGRAM = "ZEEHAVIK-P"
NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("grams", "shown"),
    [
        (15029860.0, "15,030 kg"),
        (15029.86, "15 kg"),
        (1084000.0, "1,084 kg"),
        (9144.0, "9.14 kg"),
        (1800.0, "1.8 kg"),
        (999.7, "1 kg"),
        (224.0, "224 g"),
        (18.034688, "18 g"),
        (1.5, "1.5 g"),
        (0.032, "32 mg"),
        (0.0004, "0.4 mg"),
        (0.0, "0 g"),
        (123.4e15, "123,400,000,000,000 kg"),
        (999.9e15, "1e+15 kg"),
        (1.234e301, "1.23e+298 kg"),
        (None, "–"),
    ],
)
def test_a_mass_has_three_significant_figures_thousands_separators_and_a_fitting_unit(grams, shown):
    assert format_mass(grams) == shown.replace(" ", NBSP)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (30.0, "30"),
        (4096, "4,096"),
        (0.0002, "0.0002"),
        (0.04571, "0.04571"),
        (0.0799925, "0.07999"),
        (647.168, "647.2"),
        (0.8192, "0.8192"),
        (1250000.0, "1,250,000"),
        (-2.5e20, "-2.5e+20"),
        (999999999999999.9, "1e+15"),
    ],
)
def test_a_quantity_has_at_most_four_significant_figures_and_no_trailing_zeros(value, shown):
    assert format_quantity(value) == shown


@pytest.mark.parametrize(
    "moment",
    [
        "2025-02-03T09:00:00Z",
        "2025-02-03T09:00:59.5+00:00",
        datetime(2025, 2, 3, 9, 0),
        datetime(2025, 2, 3, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(2025, 2, 3, 9, 0, tzinfo=UTC),
    ],
)
def test_timestamps_from_payloads_and_the_database_read_the_same(moment):
    assert format_timestamp(moment) == "2025-02-03 09:00 UTC"


@pytest.fixture
def programme(make_org, make_payload, submit, bus, session_factory):
    """An OEM's frigate with 30.0 modules from Lumen (which uses 0.0002 units of a part of its own, by
    an unknown supplier) and a cell Silesia declined to declare."""
    oem = make_org("noordhaven", name="Noordhaven Naval Shipyards B.V.")
    lumen = make_org("lumen", name="Lumen Compound GmbH", country="DE")
    silesia = make_org("silesia", name="Silesia Cell Works", country="PL")
    ministry = make_org("mod-nl", kind="authority", name="Ministry of Defence")
    root = submit(
        oem,
        make_payload(
            "noordhaven",
            "FRIGATE-1",
            program=PROGRAM,
            issued_at="2025-02-03T09:00:00Z",
            materials=[
                {"material": "Al", "mass_g": 15029860.0, "extraction": [{"country": "GN", "share": 0.9}]}
            ],
            components=[
                {
                    "part_number": "TRM-2040",
                    "supplier": "lumen",
                    "quantity": 30.0,
                    "request_disclosure": True,
                },
                {"part_number": "CELL-9", "supplier": "silesia", "quantity": 2, "request_disclosure": True},
            ],
        ),
    )
    bus.drain(20)
    with session_factory() as session:
        requests = {r.supplier_id: r.id for r in session.scalars(select(DisclosureRequest)).all()}
        decline_request(
            session,
            session.get(Organization, silesia.organization.id),
            requests[silesia.organization.id],
            "Export controlled under our licence",
        )
        session.commit()
    module = submit(
        lumen,
        make_payload(
            "lumen",
            "TRM-2040",
            in_response_to=requests[lumen.organization.id],
            components=[
                {
                    "part_number": "TMGA-5",
                    "supplier_name": "MetOrg Precursors Ltd",
                    "supplier_country": "GB",
                    "quantity": 0.0002,
                    "disclose_supplier_to": ["requester"],
                }
            ],
        ),
    )
    bus.drain(20)
    return {"oem": oem, "lumen": lumen, "ministry": ministry, "root": root.id, "module": module.id}


def _ministry_page(app, make_person, programme, path: str) -> str:
    """`path` as the ministry sees it (on a client of its own: `client` is the OEM's)."""
    client = app.test_client()
    log_in(client, make_person(programme["ministry"]))
    return client.get(path).get_data(as_text=True)


def _text(html: str) -> str:
    """The page's text, tags dropped and white space collapsed (no-break spaces kept)."""
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_chain_tree_shows_quantities_shortly_and_per_root_part(client, programme, signed_in):
    signed_in(programme["oem"])
    text = _text(client.get(f"/chains/{programme['root']}").get_data(as_text=True))
    assert "× 30 piece" in text and "× 30.0" not in text
    # A gap has no declaration to give its part's unit; the root's unit comes from the root's declaration.
    assert "× 0.0002 (0.006 per piece of FRIGATE-1)" in text
    assert "per root unit" not in text


def test_one_wording_for_the_share_of_mass_with_a_known_country(
    app, client, programme, signed_in, make_person
):
    signed_in(programme["oem"])
    chain = _text(client.get(f"/chains/{programme['root']}").get_data(as_text=True))
    audit = _text(_ministry_page(app, make_person, programme, f"/audit/{PROGRAM}"))
    assert "refining country known" in chain and "mining country known" in chain
    assert "Refining country known" in chain and "Mining country known" in chain  # the table's heads
    assert "Refining country known" in audit
    for text in (chain, audit):
        assert not re.search(r"refiner (country )?known|mine known", text, re.IGNORECASE)


def test_masses_read_the_same_on_the_chain_and_the_audit(app, client, programme, signed_in, make_person):
    signed_in(programme["oem"])
    chain = client.get(f"/chains/{programme['root']}").get_data(as_text=True)
    audit = _ministry_page(app, make_person, programme, f"/audit/{PROGRAM}")
    for html in (chain, audit):
        assert f"<td>15,030{NBSP}kg</td>" in html
        assert "15029.86" not in html


def test_a_declaration_shows_issue_and_filing_times_alike_and_quantities_per_its_unit(
    client, programme, signed_in
):
    signed_in(programme["oem"])
    html = client.get(f"/declarations/{programme['root']}").get_data(as_text=True)
    assert "<dt>Issued</dt><dd>2025-02-03 09:00 UTC</dd>" in html
    assert re.search(r"<dt>Filed</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC</dd>", html)
    assert '<th scope="col">Quantity per piece</th>' in html
    assert "<td>30</td>" in html and "30.0" not in html


def test_the_programme_page_links_each_root_to_its_chain_page_and_exports(client, programme, signed_in):
    signed_in(programme["oem"])
    html = client.get(f"/programmes/{PROGRAM}").get_data(as_text=True)
    root = programme["root"]
    assert f'href="/chains/{root}">Chain<span class="visually-hidden"> of FRIGATE-1</span></a>' in html
    for fmt in ("json", "csv", "xlsx"):
        assert f'href="/chains/{root}/export.{fmt}" download>Export {fmt.upper()}' in html


def _chain_links(html: str) -> set[str]:
    """The text (tags dropped) of every link to a chain page (not to its exports)."""
    return {_text(text).strip() for text in re.findall(r'href="/chains/[^"/]+">(.*?)</a>', html, re.S)}


def test_every_link_to_a_chain_page_reads_chain_and_names_its_part(
    app, client, programme, signed_in, make_person
):
    """One wording, as the chain page's own title ("Chain of …") and docs/web.md have it."""
    signed_in(programme["oem"])
    pages = {
        path: client.get(path).get_data(as_text=True)
        for path in (f"/programmes/{PROGRAM}", f"/declarations/{programme['root']}", "/declarations")
    }
    pages["audit"] = _ministry_page(app, make_person, programme, f"/audit/{PROGRAM}")

    for path, html in pages.items():
        assert _chain_links(html) == {"Chain of FRIGATE-1"}, path
        assert f'href="/chains/{programme["root"]}">Chain<' in html, path
    assert "<h1>Chain of FRIGATE-1" in client.get(f"/chains/{programme['root']}").get_data(as_text=True)


def test_the_ministry_menu_names_pages_as_their_titles_do(client, programme, signed_in):
    signed_in(programme["ministry"])
    audit = client.get("/audit").get_data(as_text=True)
    programmes = client.get("/programmes").get_data(as_text=True)
    observatory = client.get("/observatory").get_data(as_text=True)
    assert ">Audit</a>" in audit and "<h1>Audit</h1>" in audit
    assert ">Programmes</a>" in programmes and "<h1>Programmes</h1>" in programmes
    assert ">Observatory</a>" in observatory and "<h1>Observatory</h1>" in observatory
    assert ">Chains</a>" not in audit


def test_the_audit_lists_a_declined_gap_with_its_reason(client, programme, signed_in):
    signed_in(programme["ministry"])
    html = client.get(f"/audit/{PROGRAM}").get_data(as_text=True)
    gaps = html[html.index("All gaps") :]
    assert "declined" in gaps and "Export controlled under our licence" in gaps


@pytest.mark.parametrize("path", ["/no-such-page", "/chains/no-such-declaration"])
def test_a_signed_in_person_keeps_the_menu_on_a_not_found_page(client, programme, signed_in, path):
    signed_in(programme["oem"])
    answer = client.get(path)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 404
    assert "Not found" in html and "Sign out" in html and ">Programmes</a>" in html


def test_an_anonymous_visitor_gets_a_not_found_page_without_a_menu(client):
    answer = client.get("/no-such-page")
    assert answer.status_code == 404
    assert "Not found" in answer.get_data(as_text=True) and "Sign out" not in answer.get_data(as_text=True)


def test_the_risk_table_does_not_pass_unknown_origin_off_as_low_concentration(client, programme, signed_in):
    signed_in(programme["ministry"])
    html = client.get(f"/audit/{PROGRAM}").get_data(as_text=True)
    row = _text(html[html.index('id="risk-table"') :].split("</tr>", 2)[1]).replace("&nbsp;", NBSP)
    # Aluminium: 90 % mined in Guinea, 10 % unknown; no refining country given at all.
    assert f"≥{NBSP}8,100 10{NBSP}% unknown" in row
    assert f"n/a 100{NBSP}% unknown" in row
    # The CRMA benchmark counts non-EU countries only: the badge says so.
    assert f"above 65{NBSP}% (non-EU)" in row


def test_a_request_page_says_sent_to_its_requester(client, programme, signed_in, session_factory):
    with session_factory() as session:
        request_id = session.scalars(select(DisclosureRequest.id)).first()
    signed_in(programme["oem"])
    sent = _text(client.get(f"/requests/{request_id}").get_data(as_text=True))
    assert " Sent " in sent and " Received " not in sent


@pytest.mark.parametrize("path", ["/settings", "/declarations/upload", "/outbox"])
def test_pages_that_send_people_to_the_api_link_to_its_documentation(client, programme, signed_in, path):
    signed_in(programme["oem"])
    html = client.get(path).get_data(as_text=True)
    main = html[html.index("<main") : html.index("</main>")]  # not only the footer's link
    assert '<a href="/api/v1/docs">API documentation</a>' in main
    assert '<a href="/api/v1/docs">API documentation</a>' in html[html.index("</main>") :]


def test_the_audit_names_gaps_as_the_chain_page_does(app, client, programme, signed_in, make_person):
    """ "declined" and "supplier unknown or not on the portal", not the report's codes with spaces."""
    signed_in(programme["oem"])
    chain = _text(client.get(f"/chains/{programme['root']}").get_data(as_text=True))
    audit = _text(_ministry_page(app, make_person, programme, f"/audit/{PROGRAM}"))
    index = _text(_ministry_page(app, make_person, programme, "/audit"))

    gaps = audit[audit.index("All gaps") :]
    for text in (chain, gaps):
        assert "supplier unknown or not on the portal" in text and " declined " in text
    assert "unknown supplier" not in gaps
    assert "1 supplier unknown or not on the portal" in index and "unknown supplier" not in index


def test_a_declaration_says_in_words_who_may_learn_each_component_supplier(client, programme, signed_in):
    signed_in(programme["oem"])
    root = _text(client.get(f"/declarations/{programme['root']}").get_data(as_text=True))
    module = _text(unescape(client.get(f"/declarations/{programme['module']}").get_data(as_text=True)))

    assert "Asked to declare Supplier named to" in root
    assert "TRM-2040 30 Lumen Compound GmbH yes the ministry only" in root
    assert "the ministry and the issuer's customers" in module
    for text in (root, module):
        assert "identity to" not in text and "requester" not in text


def test_an_answered_request_links_its_declaration_by_part(client, programme, signed_in):
    """Read out of context (a screen reader's list of links), "Declaration" alone would not say which."""
    signed_in(programme["lumen"])
    html = client.get("/inbox?tab=answered").get_data(as_text=True)
    assert f'href="/declarations/{programme["module"]}">Declaration of TRM-2040</a>' in _link_texts(html)


def _link_texts(html: str) -> set[str]:
    """Each link as `href="…">text</a>`, its text without tags."""
    return {
        f'href="{href}">{_text(text).strip()}</a>'
        for href, text in re.findall(r'href="([^"]+)">(.*?)</a>', html, re.S)
    }
