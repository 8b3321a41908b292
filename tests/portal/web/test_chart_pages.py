"""The charts as pages draw them: named countries and full tables, one colour per country on every page,
the tree's colour band, and the audit's heat maps (also laid out in Chromium at laptop and tablet width)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from web_helpers import log_in

from portal.web.charts import country_colour
from tiertrace import reference

CSS = Path(__file__).resolve().parents[3] / "portal" / "web" / "static" / "portal.css"
# Aluminium, by far the heaviest, from twelve countries (Sweden 1 %); cobalt, 20 g, from DR Congo.
ALUMINIUM = ["AU", "GN", "BR", "IN", "JM", "ID", "RU", "SA", "KZ", "US", "CA"]
WIDE = [
    {
        "material": "Al",
        "mass_g": 110_000.0,
        "extraction": [{"country": c, "share": 0.09} for c in ALUMINIUM] + [{"country": "SE", "share": 0.01}],
        "processing": [{"country": "NO", "share": 1.0}],
    },
    {
        "material": "Co",
        "mass_g": 20.0,
        "extraction": [{"country": "CD", "share": 0.99}],
        "processing": [{"country": "CN", "share": 1.0}],
    },
]
# China refines all of it; no mine is known.
NARROW = [{"material": "Ga", "mass_g": 1.0, "processing": [{"country": "CN", "share": 1.0}]}]


@pytest.fixture
def programmes(make_org, make_payload, submit):
    """An OEM with two programmes, "WIDE" and "NARROW", and a ministry."""
    oem = make_org("noordhaven")
    ministry = make_org("mod-nl", kind="authority")
    submit(oem, make_payload("noordhaven", "WIDE-1", program="WIDE", materials=WIDE))
    submit(oem, make_payload("noordhaven", "NARROW-1", program="NARROW", materials=NARROW))
    return {"oem": oem, "ministry": ministry}


def fill_of(html: str, material: str, country: str) -> str:
    """The colour of the bar segment of `material` and `country` (the first one: the mining chart's)."""
    match = re.search(rf'fill="(#\w+)" stroke="#ffffff" stroke-width="1"><title>{material} {country} ', html)
    assert match, (material, country)
    return match.group(1)


def test_a_light_materials_own_country_is_in_its_bar_and_every_country_in_the_table(
    client, programmes, signed_in
):
    signed_in(programmes["oem"])

    html = client.get("/programmes/WIDE").get_data(as_text=True)

    assert "<title>Co CD " in html  # not hidden in "other" by the twelve aluminium countries
    assert "<title>Al SE " not in html and "<title>Al other countries: " in html
    tables = "".join(re.findall(r'<details class="data-table">.*?</details>', html, re.S))
    assert "SE Sweden: " in tables and "CD DR Congo: " in tables


def test_a_country_has_the_same_colour_on_every_page(app, client, programmes, signed_in, make_person):
    signed_in(programmes["oem"])
    narrow = client.get("/programmes/NARROW").get_data(as_text=True)
    wide = client.get("/programmes/WIDE").get_data(as_text=True)
    ministry = app.test_client()
    log_in(ministry, make_person(programmes["ministry"]))
    audit = ministry.get("/audit/WIDE").get_data(as_text=True)

    assert fill_of(narrow, "Ga", "CN") == fill_of(wide, "Co", "CN") == fill_of(audit, "Co", "CN")
    assert fill_of(wide, "Co", "CD") == fill_of(audit, "Co", "CD") == country_colour("CD")[0]


def test_the_tree_colours_a_part_by_the_lower_of_its_figures_and_says_so(client, programmes, signed_in):
    signed_in(programmes["oem"])

    html = client.get("/programmes/NARROW").get_data(as_text=True)

    assert re.search(r'<li class="node band-poor"', html)  # refiner known 100 %, mine known 0 %
    assert "the lower of its “refining country known” and “mining country known”" in html


def test_the_audit_heat_map_shows_unknown_first_and_sums_minor_countries_as_other(
    client, programmes, signed_in
):
    signed_in(programmes["ministry"])

    html = client.get("/audit/WIDE").get_data(as_text=True)

    mined = html[html.index('id="heat-extraction"') : html.index('id="heat-processing"')]
    header = re.findall(r'<th scope="col">(?:<abbr title="[^"]*">)?([\w ]+)', mined)
    assert header[:2] == ["Material", "unknown"] and header[-1] == "other"
    assert "CD" in header and "SE" not in header
    assert "Grams per one unit" not in html and "90\u00a0% or more" in html
    assert "“other” sums" in html and ">unknown, other</li>" in html


def test_the_heat_maps_promise_no_other_column_when_none_is_drawn(client, programmes, signed_in):
    signed_in(programmes["ministry"])

    html = client.get("/audit/NARROW").get_data(as_text=True)

    assert 'id="heat-extraction"' in html and ">other</th>" not in html
    assert "“other”" not in html and ">unknown</li>" in html


def _wide_programme(make_org, make_payload, submit):
    """A programme of twenty materials, each mined in a country of its own and refined in another."""
    countries = ["CN", "US", "ZA", "AU", "BR", "RU", "CL", "TR", "IN", "MM"]
    countries += ["CD", "CA", "KZ", "JP", "ID", "PE", "MY", "FR", "KR", "GN"]
    materials = [
        {
            "material": code,
            "mass_g": 1000.0 - 10 * i,
            "extraction": [{"country": countries[i], "share": 0.88}],
            "processing": [{"country": countries[(i + 1) % 20], "share": 1.0}],
        }
        for i, code in enumerate(list(reference.materials())[:20])
    ]
    oem = make_org("noordhaven")
    submit(oem, make_payload("noordhaven", "MANY-1", program="MANY", materials=materials))
    return make_org("mod-nl", kind="authority")


@pytest.mark.browser
@pytest.mark.parametrize("width", [1366, 768])
def test_the_heat_maps_keep_the_page_narrow_and_unknown_in_view(
    client, make_org, make_payload, submit, signed_in, chromium, width
):
    signed_in(_wide_programme(make_org, make_payload, submit))
    html = client.get("/audit/MANY").get_data(as_text=True)
    # The page as the browser gets it, with the portal's stylesheet in it rather than fetched.
    html = re.sub(r'<link rel="stylesheet"[^>]*>', lambda _: f"<style>{CSS.read_text()}</style>", html)
    page = chromium.new_page(viewport={"width": width, "height": 900})

    page.set_content(html)

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for table in page.query_selector_all("table.heat"):
        assert table.evaluate("t => t.rows[0].cells[1].textContent") == "unknown"
        unknown_right = table.evaluate("t => t.rows[0].cells[1].getBoundingClientRect().right")
        box = table.evaluate("t => t.parentElement.getBoundingClientRect().right")
        assert unknown_right <= min(box, width)
        lines = table.evaluate(
            """t => Math.max(...Array.from(t.tBodies[0].rows, r =>
                 r.getBoundingClientRect().height / parseFloat(getComputedStyle(r.cells[1]).lineHeight)))"""
        )
        assert lines < 2  # no "88 / %" on two lines
    page.close()


def test_a_chart_of_twenty_countries_draws_each_in_a_fill_of_its_own(
    client, make_org, make_payload, submit, signed_in
):
    signed_in(_wide_programme(make_org, make_payload, submit))

    html = client.get("/audit/MANY").get_data(as_text=True)

    mined = html[html.index('id="audit-extraction"') : html.index('id="audit-processing"')]
    segment = re.compile(
        r'fill="(#\w+)" stroke="#ffffff" stroke-width="1"><title>\S+ (\w\w) [^<]*</title></rect>\s*'
        r'(?:<rect [^>]*fill="url\(#([\w-]+)\)")?'
    )
    fills = {country: (colour, pattern) for colour, country, pattern in segment.findall(mined)}
    assert len(fills) == 20 and len(set(fills.values())) == 20
    patterns = {pattern for _, pattern in fills.values() if pattern}
    assert patterns and all(f'<pattern id="{pattern}"' in mined for pattern in patterns)
    assert fills["CN"] == (country_colour("CN")[0], "")  # the first of its line keeps its colour, plain
