"""The web pages of a chain whose figures overflow the float range: they render and read "out of range",
the exports leave those cells empty and mark their rows, the audit names where the overflow starts."""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook
from overflow_support import PROGRAM, file_overflow_chain


@pytest.fixture
def chain(make_org, make_payload, submit, bus):
    chain = file_overflow_chain(make_org, make_payload, submit)
    bus.drain(20)
    return chain


def text_of(html: str) -> str:
    """The page's text, tags removed and white space squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&nbsp;", " ").split())


def test_the_chain_page_reads_out_of_range_in_the_tree_the_charts_and_the_table(client, chain, signed_in):
    signed_in(chain.oem)
    page = client.get(f"/chains/{chain.root.id}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = text_of(html)
    assert "inf" not in text.split() and "nan" not in text.lower().split()
    # RADAR-1's own figures are out of range: its line in the tree says so instead of traced shares.
    assert re.search(r"RADAR-1 .*?× 2 .*? figures out of range", text)
    # The charts' bar and the traced-share table: gallium's mass, and its shares, cannot be read.
    assert "Ga (Gallium) · out of range" in text
    coverage = text[text.index("Traced share per material") :]
    assert coverage.startswith(
        "Traced share per material Material Mass per piece Mining country known Refining country known "
        "Recycled Ga Gallium out of range out of range out of range 0 g"
    )


def test_the_chain_exports_leave_out_of_range_cells_empty_and_mark_the_rows(client, chain, signed_in):
    signed_in(chain.authority)

    answer = client.get(f"/chains/{chain.root.id}/export.csv")
    assert answer.status_code == 200
    lines = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    header = lines.index(["[rollup]"]) + 1
    section = lines[header + 1 : lines.index([], header)]
    rows = [dict(zip(lines[header], line, strict=True)) for line in section]
    ga_cn = next(r for r in rows if (r["material"], r["stage"], r["country"]) == ("Ga", "processing", "CN"))
    assert (ga_cn["material_mass_g"], ga_cn["mass_g"], ga_cn["share"], ga_cn["out_of_range"]) == (
        "",
        "1.47",
        "",
        "true",
    )
    ge = next(r for r in rows if r["material"] == "Ge")
    assert (ge["material_mass_g"], ge["out_of_range"]) == ("2.0", "false")

    sheets = load_workbook(io.BytesIO(client.get(f"/chains/{chain.root.id}/export.xlsx").get_data()))
    nodes = list(sheets["nodes"].iter_rows(values_only=True))
    tiny = dict(zip(nodes[0], next(row for row in nodes if row[4] == "TINY-1"), strict=True))
    assert (tiny["quantity_in_root"], tiny["out_of_range"]) == (None, True)
    coverage = dict(sheets["coverage"].iter_rows(min_row=2, values_only=True))
    assert coverage["traced_Ga_extraction"] == "out of range"


def test_the_audit_page_names_where_the_overflow_starts(client, chain, signed_in):
    signed_in(chain.authority)
    page = client.get(f"/audit/{PROGRAM}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = text_of(html)
    assert text.count("it starts in RADAR-1 declared by Radar Maker GmbH (radar-maker, DE)") == 1  # summary
    section = html[html.index('id="out-of-range"') : html.index("Mass by country")]
    assert f'href="/declarations/{chain.radar_part.id}">RADAR-1</a> declared by Radar Maker GmbH' in section
    risk_table = text_of(html[html.index('id="risk-table"') : html.index('id="roots-title"')])
    assert "Ga Gallium out of range out of range : where it starts" in risk_table
    heat = text_of(html[html.index('class="heat-maps"') : html.index("Risk per material")])
    assert "Ga out of range" in heat


def test_the_observatory_page_reads_out_of_range(client, chain, signed_in):
    signed_in(chain.authority)
    page = client.get("/observatory")

    assert page.status_code == 200
    materials = text_of(page.get_data(as_text=True))
    assert (
        "Ga Gallium out of range 1 out of range : a programme's audit report names where it starts"
        in materials
    )
