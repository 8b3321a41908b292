"""The pages' figures: which countries a bar names, fixed country colours, heat map columns and shades,
and the tree's colour band."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pytest

from portal.web.charts import (
    COUNTRY_GROUPS,
    HEAT_LEVELS,
    OTHER_COLOUR,
    PALETTE,
    PATTERNS,
    UNKNOWN_COLOUR,
    Fill,
    build_tree,
    chart_fills,
    country_colour,
    coverage_band,
    heat_level,
    heat_map,
    stacked_charts,
)
from tiertrace import reference

CSS = Path(__file__).resolve().parents[3] / "portal" / "web" / "static" / "portal.css"

# Aluminium, by far the heaviest material, comes from eleven countries; cobalt, a few grams, from DR Congo.
ALUMINIUM = {f"{a}{b}": 1000.0 for a, b in zip("ABCDEFGHIJK", "ABCDEFGHIJK", strict=True)}
ROLLUP = {
    "Al": {"mass_g": 11_100.0, "extraction": {**ALUMINIUM, "SE": 100.0}, "processing": {"NO": 11_100.0}},
    "Co": {"mass_g": 20.0, "extraction": {"CD": 19.8, "unknown": 0.2}, "processing": {"FI": 18.6, "CN": 1.4}},
}


def segments_of(chart, material):
    [bar] = [bar for bar in chart.bars if bar.material == material]
    return bar.segments


def test_a_materials_largest_country_is_named_in_its_bar_however_light_the_material():
    extraction, processing = stacked_charts(ROLLUP)

    assert [s.country for s in segments_of(extraction, "Co")] == ["CD", "unknown"]
    assert [s.country for s in segments_of(processing, "Co")] == ["FI", "CN"]  # 7 % is named too


def test_a_bar_names_countries_with_five_percent_and_sums_the_rest_as_other_before_unknown():
    rollup = {
        "Ni": {"mass_g": 100.0, "extraction": {"FI": 60.0, "RU": 20.0, "NO": 4.0, "SE": 3.0, "unknown": 13.0}}
    }

    extraction, _ = stacked_charts(rollup)

    segments = segments_of(extraction, "Ni")
    assert [(s.country, round(s.share, 2)) for s in segments] == [
        ("FI", 0.6),
        ("RU", 0.2),
        ("other", 0.07),
        ("unknown", 0.13),
    ]
    assert (segments[-2].colour, segments[-1].colour) == (OTHER_COLOUR[0], UNKNOWN_COLOUR[0])
    assert abs(sum(s.width for s in segments) - 100) < 1e-9


def test_the_table_under_a_chart_lists_every_country_of_every_material():
    extraction, _ = stacked_charts(ROLLUP, country_names={"SE": "Sweden"})

    [aluminium] = [bar for bar in extraction.bars if bar.material == "Al"]
    assert "SE" not in {s.country for s in aluminium.segments}  # 0.9 %: "other" in the bar
    assert [s.country for s in aluminium.shares] == [*ALUMINIUM, "SE"]
    assert aluminium.shares[-1].label == "SE Sweden"


def test_a_country_has_the_same_colour_on_every_page_whatever_else_the_page_shows():
    """China dominates one programme and is a sliver of another: its colour does not depend on that."""
    small = {"Ga": {"mass_g": 1.0, "extraction": {"CN": 1.0}, "processing": {"CN": 1.0}}}

    colours = [
        {s.country: s.colour for bar in chart.bars for s in bar.segments}
        for chart in (*stacked_charts(small), *stacked_charts(ROLLUP))
    ]

    assert colours[0]["CN"] == colours[1]["CN"] == colours[3]["CN"] == country_colour("CN")[0]
    assert country_colour("CL") != country_colour("RU")


def fills_of(chart):
    """Each country's fill in the chart's bars: colour and pattern."""
    return {s.country: (s.colour, s.pattern) for bar in chart.bars for s in bar.segments}


def test_two_countries_of_a_chart_that_prefer_one_colour_get_two():
    """Chile and Finland prefer the same colour: the chart keeps Chile's (listed first), Finland moves."""
    assert country_colour("CL") == country_colour("FI")
    rollup = {
        "Cu": {"mass_g": 10.0, "extraction": {"CL": 9.0, "unknown": 1.0}, "processing": {"CL": 10.0}},
        "Ni": {"mass_g": 5.0, "extraction": {"FI": 3.0, "RU": 2.0}, "processing": {"FI": 5.0}},
    }

    extraction, processing = stacked_charts(rollup)

    fills = fills_of(extraction)
    assert fills["CL"] == (country_colour("CL")[0], None)
    assert fills["FI"][0] != fills["CL"][0] and fills["FI"][0] in {fill for fill, _ in PALETTE}
    assert len(set(fills.values())) == len(fills)
    assert fills_of(processing)["FI"] == fills["FI"]  # the chart beside it agrees
    legend = {code: fill.colour for code, _, fill in extraction.legend}
    assert legend["FI"] == fills["FI"][0] and legend["CL"] == fills["CL"][0]


def test_a_country_without_a_rival_in_its_chart_keeps_its_colour_on_every_page():
    alone = {"Ni": {"mass_g": 1.0, "extraction": {"FI": 1.0}}}
    with_others = {"Ni": {"mass_g": 1.0, "extraction": {"FI": 0.5, "CN": 0.3, "AU": 0.2}}}

    first, second = (stacked_charts(rollup)[0] for rollup in (alone, with_others))

    assert fills_of(first)["FI"] == fills_of(second)["FI"] == (country_colour("FI")[0], None)


def test_every_country_of_a_crowded_chart_has_a_fill_of_its_own():
    """Forty countries, four to a colour: ten plain colours, then the same with patterns over them."""
    countries = [country for line in COUNTRY_GROUPS for country in line.split()[:4]]

    fills = chart_fills(countries)

    assert len(set(fills.values())) == len(countries) == len(PALETTE) * len(PATTERNS)
    assert [fills[line.split()[0]] for line in COUNTRY_GROUPS] == [Fill(*colour) for colour in PALETTE]
    assert chart_fills(reversed(countries)) == fills  # whatever order the chart meets them in


@pytest.mark.parametrize("stage", ["extraction_shares", "processing_shares"])
def test_countries_the_reference_list_names_together_never_share_a_colour(stage):
    for material in reference.materials().values():
        countries = list(getattr(material, stage))
        colours = [country_colour(country) for country in countries]
        assert len(set(colours)) == len(colours), (material.code, countries)


#: Colour-vision deficiencies as matrices on linear RGB (Machado, Oliveira and Fernandes 2009, severity 1).
DEFICIENCIES = {
    "none": ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}


def _lab(colour: str, deficiency: str) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB colour as seen with `deficiency`."""
    rgb = [_linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5)]
    r, g, b = (
        min(1.0, max(0.0, sum(m * c for m, c in zip(row, rgb, strict=True))))
        for row in DEFICIENCIES[deficiency]
    )
    xyz = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    fx, fy, fz = (t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _contrast(one: str, two: str) -> float:
    """WCAG contrast ratio of two sRGB colours."""
    darker, lighter = sorted(map(_luminance, (one, two)))
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    r, g, b = (_linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_no_two_country_colours_look_alike_with_normal_or_deficient_colour_vision():
    fills = [fill for fill, _ in (*PALETTE, OTHER_COLOUR, UNKNOWN_COLOUR)]
    for deficiency in DEFICIENCIES:
        for one, two in itertools.combinations(fills, 2):
            distance = math.dist(_lab(one, deficiency), _lab(two, deficiency))
            assert distance >= 12, (deficiency, one, two, round(distance, 1))


def test_a_country_code_printed_on_its_colour_has_aa_contrast():
    for fill, text in (*PALETTE, OTHER_COLOUR, UNKNOWN_COLOUR):
        assert _contrast(fill, text) >= 4.5, (fill, text)


def test_the_heat_map_puts_unknown_next_to_the_material_and_sums_minor_countries_as_other():
    processing = {**ROLLUP, "Ni": {"mass_g": 100.0, "processing": {"FI": 60.0, "RU": 37.0, "SE": 3.0}}}

    hm = heat_map(processing, "processing")

    assert hm.countries == ["unknown", "NO", "FI", "RU", "CN", "other"]  # the most mass first
    cells = {material: dict(zip(hm.countries, cells, strict=True)) for material, _, cells in hm.rows}
    assert cells["Ni"]["other"] == (pytest.approx(0.03), 1)
    assert cells["Co"]["CN"] == (pytest.approx(0.07), 1)
    assert cells["Al"]["NO"] == (1.0, 9)


@pytest.mark.parametrize(
    ("share", "level"),
    [(0.0, 0), (0.001, 1), (0.15, 1), (0.196, 2), (0.45, 4), (0.8949, 8), (0.8987, 9), (1.0, 9)],
)
def test_a_heat_cell_is_shaded_by_its_share_as_printed(share, level):
    assert heat_level(share) == level


def test_every_printed_percentage_has_the_shade_of_its_legend_entry():
    for percent in range(1, 101):
        label = HEAT_LEVELS[heat_level(percent / 100) - 1]
        numbers = [int(n) for n in re.findall(r"\d+", label)]
        if label.startswith("under"):
            assert percent < numbers[0], (percent, label)
        elif label.endswith("or more"):
            assert percent >= numbers[0], (percent, label)
        else:
            assert numbers[0] <= percent <= numbers[1], (percent, label)


def test_every_heat_shade_keeps_its_text_at_aa_contrast():
    rule = r"^\.heat-(\d|neutral)\b[^{]*\{ background: (#\w{6}); color: (#\w{6}); \}"
    shades = re.findall(rule, CSS.read_text(), re.MULTILINE)
    assert [name for name, _, _ in shades] == [*"0123456789", "neutral"]
    for name, background, text in shades:
        assert _contrast(background, text) >= 4.5, (name, background, text)


@pytest.mark.parametrize(
    ("share", "band"),
    [(None, "none"), (0.8987, "good"), (0.8949, "partial"), (0.4951, "partial"), (0.4949, "poor")],
)
def test_a_share_is_banded_as_printed(share, band):
    assert coverage_band(share) == band


def test_a_part_is_coloured_by_the_lower_of_its_refining_and_mining_figures():
    rollup = {"Ga": {"mass_g": 1.0, "extraction": {"unknown": 1.0}, "processing": {"CN": 1.0}}}
    view = {"nodes": [{"id": "root", "parent": None, "kind": "declared", "rollup": rollup}]}

    [root], _ = build_tree(view)

    assert root.traced == {"extraction": 0.0, "processing": 1.0}
    assert root.band == "poor"
