"""Figures for the pages, from the chain view's JSON: stacked bars, heat map cells, the unfolded tree.

Pure functions over plain values (no Flask, no database): the templates draw SVG and tables from what
these return. The figures are the chain view's; nothing is recomputed here except proportions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tiertrace.chains.merge import depth_first

#: Country colours (Okabe–Ito's, then Tol's qualitative palettes: told apart with colour-vision
#: deficiencies, the first ones best). A country has one colour on a page, in both stages' charts.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#882255",
    "#44AA99",
    "#999933",
    "#332288",
    "#AA4499",
    "#DDCC77",
    "#117733",
    "#661100",
    "#88CCEE",
    "#6699CC",
)
#: Each chart names at most this many of its largest countries; the rest of its bars is "other".
COUNTRIES_PER_CHART = 10
UNKNOWN_COLOUR = "#BBBBBB"
OTHER_COLOUR = "#666666"
STAGES = ("extraction", "processing")


@dataclass(frozen=True)
class Segment:
    country: str
    label: str
    grams: float
    share: float
    colour: str
    #: Left edge and width in percent of the bar.
    x: float
    width: float


@dataclass(frozen=True)
class Bar:
    material: str
    label: str
    mass_g: float
    segments: list[Segment]


@dataclass(frozen=True)
class StackedChart:
    """One stage: a 100 % bar per material, split by country; the legend lists the colours used."""

    stage: str
    bars: list[Bar]
    legend: list[tuple[str, str, str]]

    @property
    def height(self) -> int:
        return 28 * len(self.bars) + 8


def stacked_charts(
    rollup: dict[str, Any],
    *,
    material_names: dict[str, str] | None = None,
    country_names: dict[str, str] | None = None,
) -> list[StackedChart]:
    """One chart per stage (extraction, processing), a country drawn in the same colour in both.

    Each chart names its `COUNTRIES_PER_CHART` largest countries; the colours go to those of both charts
    in order of their mass over both stages (the largest get the most distinct colours). Beyond the
    palette, and beyond a chart's own largest, countries are "other".
    """
    named = {country for stage in STAGES for country in _ranked(rollup, (stage,))[:COUNTRIES_PER_CHART]}
    ranked = [country for country in _ranked(rollup, STAGES) if country in named][: len(PALETTE)]
    colours = {country: PALETTE[i] for i, country in enumerate(ranked)}
    return [
        _stacked_chart(rollup, stage, colours, material_names or {}, country_names or {}) for stage in STAGES
    ]


def _ranked(rollup: dict[str, Any], stages: tuple[str, ...]) -> list[str]:
    """Known countries of `stages`, the most mass first (ties by code)."""
    totals: dict[str, float] = {}
    for figures in rollup.values():
        for stage in stages:
            for country, grams in (figures.get(stage) or {}).items():
                if country != "unknown":
                    totals[country] = totals.get(country, 0.0) + float(grams)
    return sorted(totals, key=lambda c: (-totals[c], c))


def _stacked_chart(
    rollup: dict[str, Any],
    stage: str,
    colours: dict[str, str],
    material_names: dict[str, str],
    country_names: dict[str, str],
) -> StackedChart:
    """The mass of each material by country of `stage`, as shares of the material's mass.

    Materials come in order of mass, the heaviest first; countries in a bar largest first, "other"
    (countries without a colour) and the "unknown" remainder last. The legend lists this stage's
    countries, the largest first.
    """
    colours = {c: colours[c] for c in _ranked(rollup, (stage,))[:COUNTRIES_PER_CHART] if c in colours}
    bars = []
    used: dict[str, tuple[str, str]] = {}
    for material, figures in sorted(rollup.items(), key=lambda item: (-item[1].get("mass_g", 0), item[0])):
        mass = float(figures.get("mass_g") or 0.0)
        by_country: dict[str, float] = {}
        for country, grams in (figures.get(stage) or {}).items():
            key = country if country in colours or country == "unknown" else "other"
            by_country[key] = by_country.get(key, 0.0) + float(grams)
        order = sorted(by_country, key=lambda c: (c == "unknown", c == "other", -by_country[c], c))
        segments = []
        x = 0.0
        for country in order:
            grams = by_country[country]
            share = grams / mass if mass > 0 else 0.0
            if share <= 0:
                continue
            colour = colours.get(country, UNKNOWN_COLOUR if country == "unknown" else OTHER_COLOUR)
            label = _country_label(country, country_names)
            used[country] = (label, colour)
            segments.append(Segment(country, label, grams, share, colour, x * 100, share * 100))
            x += share
        # The reference list's names carry qualifiers ("Graphite (natural graphite in 2023 study; …)") that
        # would run past the chart's edge: the label keeps the name up to its first parenthesis.
        name = material_names.get(material, material).split(" (", 1)[0]
        bars.append(Bar(material, f"{material} ({name})" if name != material else material, mass, segments))
    legend_order = [c for c in _ranked(rollup, (stage,)) if c in used]
    legend_order += [c for c in ("other", "unknown") if c in used]
    return StackedChart(stage, bars, [(c, *used[c]) for c in legend_order])


def _country_label(country: str, names: dict[str, str]) -> str:
    if country == "unknown":
        return "unknown origin"
    if country == "other":
        return "other countries"
    return f"{country} {names[country]}" if country in names else country


@dataclass(frozen=True)
class HeatMap:
    """Material x country: each cell the share of the material's mass from that country (one stage)."""

    stage: str
    countries: list[str]
    rows: list[tuple[str, float, list[tuple[float, int]]]]


def heat_map(rollup: dict[str, Any], stage: str) -> HeatMap:
    """Shares per material and country of `stage`, with a shade from 0 (none) to 9 (all) per cell.

    Countries are columns in order of their total mass, "unknown" last.
    """
    totals: dict[str, float] = {}
    for figures in rollup.values():
        for country, grams in (figures.get(stage) or {}).items():
            totals[country] = totals.get(country, 0.0) + float(grams)
    countries = sorted((c for c in totals if totals[c] > 0), key=lambda c: (c == "unknown", -totals[c], c))
    rows = []
    for material, figures in sorted(rollup.items(), key=lambda item: (-item[1].get("mass_g", 0), item[0])):
        mass = float(figures.get("mass_g") or 0.0)
        cells = []
        for country in countries:
            share = float((figures.get(stage) or {}).get(country, 0.0)) / mass if mass > 0 else 0.0
            cells.append((share, 0 if share <= 0 else min(9, 1 + int(share * 9))))
        rows.append((material, mass, cells))
    return HeatMap(stage, countries, rows)


def traced_share(rollup: dict[str, Any], stage: str) -> float | None:
    """The share of all mass (every material) with a known country of `stage`; None without mass."""
    mass = sum(float(figures.get("mass_g") or 0.0) for figures in rollup.values())
    if mass <= 0:
        return None
    unknown = sum(float((figures.get(stage) or {}).get("unknown", 0.0)) for figures in rollup.values())
    return max(0.0, min(1.0, 1 - unknown / mass))


def coverage_band(share: float | None) -> str:
    """A colour band for a traced share: "good" (at least 90 %), "partial" (50 %), "poor", or "none"."""
    if share is None:
        return "none"
    if share >= 0.9:
        return "good"
    return "partial" if share >= 0.5 else "poor"


@dataclass
class TreeNode:
    """A chain view node with its children, for the expandable tree."""

    node: dict[str, Any]
    children: list[TreeNode] = field(default_factory=list)
    #: Known-origin shares of the node's own rollup, per stage (None without mass).
    traced: dict[str, float | None] = field(default_factory=dict)
    band: str = "none"
    #: Part numbers from the root down to this node (gaps are listed with it).
    path: list[str] = field(default_factory=list)


def build_tree(view: dict[str, Any]) -> tuple[list[TreeNode], list[TreeNode]]:
    """The chain view's nodes as a tree (roots) and the gap nodes in tree order (the gap list)."""
    by_id: dict[str, TreeNode] = {}
    roots: list[TreeNode] = []
    gaps: list[TreeNode] = []
    for node, path in depth_first(view.get("nodes", [])):  # a parent comes before its children
        traced = {stage: traced_share(node.get("rollup") or {}, stage) for stage in STAGES}
        item = TreeNode(
            node,
            traced=traced,
            band=coverage_band(traced["processing"]),
            path=[part or "undisclosed part" for part in path],
        )
        by_id[node["id"]] = item
        parent = by_id.get(node.get("parent")) if node.get("parent") is not None else None
        (roots if parent is None else parent.children).append(item)
        if node.get("kind") == "gap":
            gaps.append(item)
    return roots, gaps


def rollup_from_report(report: dict[str, Any]) -> dict[str, Any]:
    """The programme's material figures of an audit report, in the chain view's rollup shape."""
    rollup: dict[str, Any] = {}
    for code, figures in (report.get("risk", {}).get("materials") or {}).items():
        rollup[code] = {
            "mass_g": figures.get("mass_g", 0.0),
            "recycled_g": figures.get("recycled_g", 0.0),
            **{
                stage: {
                    country: values.get("mass_g", 0.0)
                    for country, values in (figures.get(stage, {}).get("countries") or {}).items()
                }
                for stage in STAGES
            },
        }
    return rollup
