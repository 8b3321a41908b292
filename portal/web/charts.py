"""Figures for the pages, from the chain view's JSON: stacked bars, heat map cells, the unfolded tree.

Pure functions over plain values (no Flask, no database): the templates draw SVG and tables from what
these return. The figures are the chain view's; nothing is recomputed here except proportions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tiertrace.chains.merge import depth_first, materials_by_mass

#: Country colours, each with the text colour that reads on it: ten from Okabe–Ito's, Paul Tol's and
#: IBM's colour-blind-safe palettes, every two at least 12 apart (CIELAB ΔE) for normal vision and for
#: simulated protanopia, deuteranopia and tritanopia, and from the greys of "other" and "unknown".
PALETTE = (
    ("#0072B2", "#FFFFFF"),
    ("#222255", "#FFFFFF"),
    ("#648FFF", "#000000"),
    ("#99DDFF", "#000000"),
    ("#009E73", "#000000"),
    ("#EEDD88", "#000000"),
    ("#AAAA00", "#000000"),
    ("#CC79A7", "#000000"),
    ("#225522", "#FFFFFF"),
    ("#997700", "#000000"),
)
#: The countries of each colour of PALETTE, in its order: every country of the CRM reference list, so that
#: the countries it names for one material and stage never share a colour, nor do its ten largest
#: producers (the first of each line). A country's preferred colour, the same on every page; where two
#: countries of one chart prefer the same colour, the one listed first keeps it (`chart_fills`).
COUNTRY_GROUPS = (
    "CN AM BA CZ IS KE PT",
    "US ID TJ RW NO SE AE",
    "ZA IR BE GN DZ CH GT",
    "AU JP VN ES NG SG TW",
    "BR KZ QA BO TH AT BG",
    "RU MX GA IT KP GB GR",
    "CL MY FR PH FI MN SL",
    "TR CD KR MZ PL GH HK",
    "IN PE ZW DE SN IL RO",
    "MM CA MA AR UA LA NL",
)
_COUNTRY_COLOURS = {country: i for i, group in enumerate(COUNTRY_GROUPS) for country in group.split()}
UNKNOWN_COLOUR = ("#BBBBBB", "#000000")
OTHER_COLOUR = ("#666666", "#FFFFFF")
#: What a chart lays over a palette colour once its countries have used all ten plain: a chart has more
#: countries than the palette has colours (a programme's chart can name twenty), and none may share a fill.
PATTERNS = (None, "stripes", "dots", "cross")
#: A bar names a country with at least this share of the material's mass, and always its largest one;
#: the rest of its known mass is "other". The heat map has a column for every country some bar names.
MIN_SHARE = 0.05
#: A segment at least this wide (percent of the bar) carries its country code.
LABEL_MIN_WIDTH = 6.0
#: The heat map's shades 1 to 9 (0 is none), by the share as printed: steps of 10 %.
HEAT_LEVELS = ("under 20\u00a0%", *(f"{p}–{p + 9}\u00a0%" for p in range(20, 90, 10)), "90\u00a0% or more")
STAGES = ("extraction", "processing")
#: A gap of the chain view (its `gap`, the audit report's `kind`) in the words every page uses.
GAP_LABELS = {
    "open": "request open",
    "overdue": "request overdue",
    "declined": "declined",
    "unknown_supplier": "supplier unknown or not on the portal",
    "not_requested": "not requested",
    "cycle": "cycle",
}


def country_colour(country: str) -> tuple[str, str]:
    """The country's preferred fill and text colour, the same on every page; "unknown" and "other" are
    greys. A chart may give a country another one (`chart_fills`)."""
    if country == "unknown":
        return UNKNOWN_COLOUR
    if country == "other":
        return OTHER_COLOUR
    return PALETTE[_preferred(country)]


def _preferred(country: str) -> int:
    # A country outside the table gets a colour from its code: arbitrary, but the same everywhere.
    return _COUNTRY_COLOURS.get(country, sum(map(ord, country)) % len(PALETTE))


def _precedence(country: str) -> tuple[int, str]:
    """Who keeps a colour that two countries of a chart prefer: the one listed earlier on their line of
    COUNTRY_GROUPS (the first of a line is one of the largest producers), countries outside it last."""
    line = COUNTRY_GROUPS[_COUNTRY_COLOURS[country]].split() if country in _COUNTRY_COLOURS else []
    return (line.index(country) if country in line else len(_COUNTRY_COLOURS), country)


@dataclass(frozen=True)
class Fill:
    """How a country is drawn in a chart: a colour of PALETTE (with the text colour that reads on it),
    plain or with one of PATTERNS laid over it."""

    colour: str
    text_colour: str
    pattern: str | None = None

    @property
    def pattern_id(self) -> str | None:
        """The name of the pattern's definition: its shape, and its ink (white on a dark colour)."""
        if self.pattern is None:
            return None
        return f"{self.pattern}-{'light' if self.text_colour == '#FFFFFF' else 'dark'}"


def chart_fills(countries: Iterable[str]) -> dict[str, Fill]:
    """A fill for every country of one chart, no two alike, each as stable across pages as they allow.

    Every country gets its preferred colour (`country_colour`) unless another country of the chart that
    prefers it too comes first (`_precedence`). Those left over take, in that order, the next colour after
    their own that no country of the chart has, and once all ten are used, the colours again with a
    pattern over them. Distinct for up to len(PALETTE) x len(PATTERNS) countries; beyond that (no
    programme comes near) the rest get their preferred colour. "unknown" and "other" keep their greys.
    """
    size = len(PALETTE)
    fills: dict[str, Fill] = {}
    used: set[int] = set()
    waiting = []
    for country in sorted(set(countries) - {"unknown", "other"}, key=_precedence):
        if _preferred(country) in used:
            waiting.append(country)
        else:
            used.add(_preferred(country))
            fills[country] = _fill(_preferred(country))
    for country in waiting:
        preferred = _preferred(country)
        order = (
            ring * size + (preferred + step) % size for ring in range(len(PATTERNS)) for step in range(size)
        )
        slot = next((s for s in order if s not in used), preferred)
        used.add(slot)
        fills[country] = _fill(slot)
    return fills


def _fill(slot: int) -> Fill:
    """Fill number `slot`: PALETTE's colours plain, then with each of PATTERNS over them."""
    pattern, colour = divmod(slot, len(PALETTE))
    return Fill(*PALETTE[colour], PATTERNS[pattern])


def fill_of(country: str, fills: dict[str, Fill]) -> Fill:
    """The country's fill in a chart of `fills`: its own, or the grey of "unknown" and "other"."""
    if country in fills:
        return fills[country]
    return Fill(*country_colour(country))


@dataclass(frozen=True)
class Share:
    """One country's part of a material's mass at one stage."""

    country: str
    label: str
    grams: float
    share: float


@dataclass(frozen=True)
class Segment(Share):
    colour: str
    text_colour: str
    #: Left edge and width in percent of the bar.
    x: float
    width: float
    #: The pattern over the colour (`Fill`), when the chart has used all colours plain.
    pattern: str | None = None

    @property
    def pattern_id(self) -> str | None:
        return Fill(self.colour, self.text_colour, self.pattern).pattern_id

    @property
    def code(self) -> str:
        """The country code printed on the segment: only a country's, and only when it fits."""
        return (
            self.country if self.width >= LABEL_MIN_WIDTH and self.country not in ("other", "unknown") else ""
        )


@dataclass(frozen=True)
class Bar:
    material: str
    label: str
    #: None when out of range (a float overflow): the bar is empty, it has no shares.
    mass_g: float | None
    #: The bar: its named countries, then "other" and "unknown".
    segments: list[Segment]
    #: The table: every country, the largest first, "unknown" last.
    shares: list[Share]


@dataclass(frozen=True)
class StackedChart:
    """One stage: a 100 % bar per material, split by country; the legend lists the fills used."""

    stage: str
    bars: list[Bar]
    #: Country code, label and fill.
    legend: list[tuple[str, str, Fill]]

    @property
    def patterns(self) -> list[str]:
        """The patterns the chart draws (`Fill.pattern_id`), for the page to define."""
        return sorted({fill.pattern_id for _, _, fill in self.legend if fill.pattern_id})


def stacked_charts(
    rollup: dict[str, Any],
    *,
    material_names: dict[str, str] | None = None,
    country_names: dict[str, str] | None = None,
) -> list[StackedChart]:
    """One chart per stage (extraction, processing), each country in a fill of its own (`chart_fills`):
    the same in both charts, so that the two side by side agree."""
    fills = chart_fills(
        country
        for figures in rollup.values()
        for stage in STAGES
        for country in _named(_shares(figures, stage, {}))
    )
    return [
        _stacked_chart(rollup, stage, material_names or {}, country_names or {}, fills) for stage in STAGES
    ]


def _mass(figures: Mapping[str, Any]) -> float | None:
    """A material's mass; None when it is out of range."""
    mass = figures.get("mass_g", 0.0)
    return None if mass is None else float(mass)


def _shares(figures: Mapping[str, Any], stage: str, country_names: dict[str, str]) -> list[Share]:
    """Every country of `stage` with mass, the largest first (ties by code), "unknown" last; none when
    the material's mass is out of range (no share of it can be computed)."""
    mass = _mass(figures)
    if mass is None:
        return []
    grams = {c: float(g) for c, g in (figures.get(stage) or {}).items() if float(g) > 0}
    order = sorted(grams, key=lambda c: (c == "unknown", -grams[c], c))
    return [
        Share(c, _country_label(c, country_names), grams[c], grams[c] / mass if mass > 0 else 0.0)
        for c in order
    ]


def _named(shares: list[Share]) -> list[str]:
    """The countries a bar names: the largest known one, and every other with at least `MIN_SHARE`."""
    known = [s for s in shares if s.country != "unknown"]
    return [s.country for i, s in enumerate(known) if i == 0 or s.share >= MIN_SHARE]


def _stacked_chart(
    rollup: dict[str, Any],
    stage: str,
    material_names: dict[str, str],
    country_names: dict[str, str],
    fills: dict[str, Fill],
) -> StackedChart:
    """The mass of each material by country of `stage`, as shares of the material's mass.

    Materials come in order of mass, the heaviest first; a bar's named countries largest first, then
    "other" (its remaining countries) and "unknown". The legend lists the chart's countries, the most
    mass over the chart first, then "other" and "unknown".
    """
    bars = []
    totals: dict[str, float] = {}
    for material, figures in materials_by_mass(rollup):
        shares = _shares(figures, stage, country_names)
        named = _named(shares)
        parts = [s for s in shares if s.country in named]
        other = [s for s in shares if s.country not in named and s.country != "unknown"]
        if other:
            grams = sum(s.grams for s in other)
            share = sum(s.share for s in other)
            parts.append(Share("other", _country_label("other", country_names), grams, share))
        parts += [s for s in shares if s.country == "unknown"]
        segments = []
        x = 0.0
        for part in parts:
            if part.share <= 0:
                continue
            fill = fill_of(part.country, fills)
            segments.append(
                Segment(
                    part.country,
                    part.label,
                    part.grams,
                    part.share,
                    fill.colour,
                    fill.text_colour,
                    x * 100,
                    part.share * 100,
                    fill.pattern,
                )
            )
            totals[part.country] = totals.get(part.country, 0.0) + part.grams
            x += part.share
        # The reference list's names carry qualifiers ("Graphite (natural graphite in 2023 study; …)") that
        # would run past the chart's edge: the label keeps the name up to its first parenthesis.
        name = material_names.get(material, material).split(" (", 1)[0]
        label = f"{material} ({name})" if name != material else material
        bars.append(Bar(material, label, _mass(figures), segments, shares))
    order = sorted(totals, key=lambda c: (c in ("other", "unknown"), c == "unknown", -totals[c], c))
    legend = [(c, _country_label(c, country_names), fill_of(c, fills)) for c in order]
    return StackedChart(stage, bars, legend)


def _country_label(country: str, names: dict[str, str]) -> str:
    if country == "unknown":
        return "unknown origin"
    if country == "other":
        return "other countries"
    return f"{country} {names[country]}" if country in names else country


def heat_level(share: float) -> int:
    """The shade of a heat map cell, 0 (none) to 9, by the share rounded as the page prints it.

    So a cell agrees with its figure and the legend (`HEAT_LEVELS`): 89.87 % is printed "90 %", and
    shaded as 90 % or more.
    """
    if share <= 0:
        return 0
    return max(1, min(9, round(share * 100) // 10))


@dataclass(frozen=True)
class HeatMap:
    """Material x country: each cell the share of the material's mass from that country (one stage)."""

    stage: str
    #: "unknown" first, then the countries some bar names, the most mass first, then "other" if any.
    countries: list[str]
    #: Per material: code, mass (None when out of range: then no cells), and per column its share and shade.
    rows: list[tuple[str, float | None, list[tuple[float, int]]]]
    #: The legend: what shades 1 to 9 stand for.
    levels: ClassVar[tuple[str, ...]] = HEAT_LEVELS

    @property
    def has_other(self) -> bool:
        """Whether a column sums the countries no bar names."""
        return "other" in self.countries


def heat_map(rollup: dict[str, Any], stage: str) -> HeatMap:
    """Shares per material and country of `stage`, the countries no bar names summed as "other"."""
    materials = [
        (material, figures, _shares(figures, stage, {})) for material, figures in materials_by_mass(rollup)
    ]
    totals: dict[str, float] = {}
    for _, _, shares in materials:
        named = _named(shares)
        for s in shares:
            if s.country in named:
                totals[s.country] = totals.get(s.country, 0.0) + s.grams
    rows = []
    for material, figures, shares in materials:
        by_column: dict[str, float] = {}
        for s in shares:
            column = s.country if s.country in totals or s.country == "unknown" else "other"
            by_column[column] = by_column.get(column, 0.0) + s.share
        rows.append((material, _mass(figures), by_column))
    countries = sorted(totals, key=lambda c: (-totals[c], c))
    columns = ["unknown", *countries, *(["other"] if any("other" in row[2] for row in rows) else [])]
    cells = [
        (
            material,
            mass,
            []
            if mass is None
            else [(by_column.get(c, 0.0), heat_level(by_column.get(c, 0.0))) for c in columns],
        )
        for material, mass, by_column in rows
    ]
    return HeatMap(stage, columns, cells)


def out_of_range(rollup: dict[str, Any]) -> bool:
    """Whether a material's mass in `rollup` is out of range (a float overflow): then the shares of all
    mass are too."""
    return any(_mass(figures) is None for figures in rollup.values())


def traced_share(rollup: dict[str, Any], stage: str) -> float | None:
    """The share of all mass (every material) with a known country of `stage`; None without mass, or
    when a mass is out of range (`out_of_range`)."""
    if out_of_range(rollup):
        return None
    mass = sum(float(figures.get("mass_g") or 0.0) for figures in rollup.values())
    if mass <= 0:
        return None
    unknown = sum(float((figures.get(stage) or {}).get("unknown", 0.0)) for figures in rollup.values())
    return max(0.0, min(1.0, 1 - unknown / mass))


def coverage_band(share: float | None) -> str:
    """A colour band for a traced share: "good" (90 % or more), "partial" (50 %), "poor", or "none".

    By the share rounded as the page prints it, so "90 %" is never shown in the band below 90 %.
    """
    if share is None:
        return "none"
    printed = round(share * 100)
    if printed >= 90:
        return "good"
    return "partial" if printed >= 50 else "poor"


@dataclass
class TreeNode:
    """A chain view node with its children, for the expandable tree."""

    node: dict[str, Any]
    children: list[TreeNode] = field(default_factory=list)
    #: Known-origin shares of the node's own rollup, per stage (None without mass or out of range).
    traced: dict[str, float | None] = field(default_factory=dict)
    #: A mass of the node's rollup is out of range: its shares cannot be computed.
    out_of_range: bool = False
    #: The colour of the lower of the two shares (`coverage_band`).
    band: str = "none"
    #: Part numbers from the root down to this node (gaps are listed with it).
    path: list[str] = field(default_factory=list)


def build_tree(view: dict[str, Any]) -> tuple[list[TreeNode], list[TreeNode]]:
    """The chain view's nodes as a tree (roots) and the gap nodes in tree order (the gap list)."""
    by_id: dict[str, TreeNode] = {}
    roots: list[TreeNode] = []
    gaps: list[TreeNode] = []
    for node, path in depth_first(view.get("nodes", [])):  # a parent comes before its children
        rollup = node.get("rollup") or {}
        traced = {stage: traced_share(rollup, stage) for stage in STAGES}
        mined, refined = traced["extraction"], traced["processing"]
        item = TreeNode(
            node,
            traced=traced,
            out_of_range=out_of_range(rollup),
            # The weaker figure: every refiner known says nothing of the mines.
            band=coverage_band(None if mined is None or refined is None else min(mined, refined)),
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
    return rollup_from_materials(report.get("risk", {}).get("materials") or {})


def rollup_from_materials(materials: dict[str, Any]) -> dict[str, Any]:
    """Per-material risk figures (an audit report's `risk.materials`, the observatory's `materials`:
    per stage `countries` with their `mass_g`) in the chain view's rollup shape, for the charts."""
    rollup: dict[str, Any] = {}
    for code, figures in materials.items():
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
