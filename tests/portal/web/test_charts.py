"""The pages' stacked bars: one colour per country on a page, "other" and "unknown" last."""

from __future__ import annotations

from portal.web.charts import COUNTRIES_PER_CHART, OTHER_COLOUR, PALETTE, UNKNOWN_COLOUR, stacked_charts

# Mined mostly in Guinea and Australia, refined mostly in China: each stage's largest country differs.
ROLLUP = {
    "Al": {
        "mass_g": 100.0,
        "extraction": {"GN": 60.0, "AU": 30.0, "unknown": 10.0},
        "processing": {"CN": 90.0, "NO": 10.0},
    },
    "Ga": {
        "mass_g": 50.0,
        "extraction": {"CN": 40.0, "unknown": 10.0},
        "processing": {"CN": 49.0, "JP": 1.0},
    },
}


def colours_by_country(chart) -> dict[str, str]:
    return {segment.country: segment.colour for bar in chart.bars for segment in bar.segments}


def test_a_country_has_the_same_colour_in_both_stages():
    extraction, processing = stacked_charts(ROLLUP)

    mined, refined = colours_by_country(extraction), colours_by_country(processing)
    assert mined["CN"] == refined["CN"] == PALETTE[0]  # the most mass over both stages: 179 g
    assert {legend[0] for legend in extraction.legend} == {"GN", "CN", "AU", "unknown"}
    assert len({colour for country, colour in {**mined, **refined}.items() if country != "unknown"}) == 5


def test_countries_beyond_a_charts_largest_are_other_and_unknown_comes_last():
    many = {f"C{i}": float(100 - i) for i in range(COUNTRIES_PER_CHART + 2)}
    rollup = {
        "Cu": {"mass_g": sum(many.values()) + 5, "extraction": {**many, "unknown": 5.0}, "processing": {}}
    }

    extraction, _ = stacked_charts(rollup)

    segments = extraction.bars[0].segments
    assert [s.country for s in segments[-2:]] == ["other", "unknown"]
    assert (segments[-2].colour, segments[-1].colour) == (OTHER_COLOUR, UNKNOWN_COLOUR)
    assert abs(sum(s.width for s in segments) - 100) < 1e-9


def test_a_chart_names_its_own_largest_countries_even_when_the_other_stage_outweighs_them():
    """Ten heavy refining countries must not push the only mining country of a material into "other"."""
    refined = {f"R{i}": 100.0 for i in range(COUNTRIES_PER_CHART)}
    rollup = {"Li": {"mass_g": 1000.0, "extraction": {"AU": 1.0}, "processing": refined}}

    extraction, processing = stacked_charts(rollup)

    [segment] = extraction.bars[0].segments
    assert segment.country == "AU" and segment.colour not in (OTHER_COLOUR, UNKNOWN_COLOUR)
    assert segment.colour not in colours_by_country(processing).values()
