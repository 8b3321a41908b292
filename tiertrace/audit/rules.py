"""The ministry's audit figures: pure functions over plain values. No session, no ORM here.

Inputs are the JSON shapes the rest of tiertrace already produces: a root's materialised rollup data
(`tiertrace.chains.merge.figures_to_data`: per material `mass_g`, `recycled_g`, country masses per stage
with `"unknown"`, `facilities`; coverage counts and gap counts), the authority's chain views (DESIGN's
nodes) and requests as plain dicts with organisation slugs. Reference data (`tiertrace.reference`) is
passed in as plain `Material` values and country names, so every figure is reproducible from its inputs.

How the figures are computed (docs/audit.md says the same for readers):

* A programme's mass per material is the sum of its roots' rollups, one unit of each root.
* Country shares are mass-weighted: grams from a country / the material's total grams at that stage.
  `"unknown"` is reported as its own share and is never a country.
* HHI is on the 0–10,000 scale: the sum of squared percentage shares of the *named* countries, each share
  taken of the stage's whole mass. Unknown mass adds nothing, so the HHI is a floor: the concentration the
  declarations prove. (98 % CN and 2 % unknown gives 9,604, not 10,000.) `unknown_share` stands beside it.
* The CRMA benchmark (Art. 5(1)(b)): a stage is flagged when a single *third* (non-EU) country supplies
  more than 65 % of the stage's mass.
* A single-facility dependency: exactly one facility is named for a material's processing, so it carries
  100 % of the mass traced to a named facility (`covers_all_traced_processing` says whether it also covers
  all mass traced to a processing country).
* Risks are ranked by score = exposure × severity × kind weight (see `rank_risks`); the summary is the
  sentences of the five highest.
* A material whose programme mass is out of range (null in the rollups: a float overflow) has no
  figure but its reference data (`out_of_range` true, every figure null). It is listed first among the
  risks, unscored, with the declarations where the overflow starts (`overflow_start`), so the auditor
  knows whom to ask.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tiertrace.chains.merge import GAP_KINDS, STAGES, UNKNOWN, round_grams
from tiertrace.reference import Material

#: EU member states (ISO 3166-1 alpha-2); every other country is a "third country" for the CRMA.
# fmt: off
EU_MEMBER_STATES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
# fmt: on
#: CRMA Art. 5(1)(b): no single third country should supply more than this share at a stage.
BENCHMARK_SHARE = 0.65
#: How a stage reads in a sentence.
STAGE_VERBS = {"extraction": "mined", "processing": "refined"}
STAGE_NOUNS = {"extraction": "mining", "processing": "refining"}
#: Request statuses counted per tier, in the order reports list them.
REQUEST_COUNTS = ("answered", "declined", "open", "overdue")
#: How many risks the summary tells.
SUMMARY_LENGTH = 5

#: Ranking weights (see `rank_risks`). A proven concentration counts fully; a single plant counts as
#: three quarters of a whole-material concentration whatever its mass (it is a structural weakness of
#: the chain, and the mass behind a named refiner is often the small, mission-critical part); unknown
#: origin counts half (a blind spot, not a proven dependency); undeclared components carry severity
#: 1.0, the EU's supply-risk threshold for "critical".
CONCENTRATION_WEIGHT = 1.0
FACILITY_WEIGHT = 0.75
UNKNOWN_WEIGHT = 0.5
UNDECLARED_SEVERITY = 1.0
#: Severity multiplier when the top country licenses exports of the material (china_export_control).
EXPORT_CONTROL_FACTOR = 1.5
#: Candidates below these exposures are not risks worth a sentence.
MIN_CONCENTRATION_SHARE = 0.5
MIN_UNKNOWN_SHARE = 0.25
#: Order of kinds when scores tie ("out_of_range" risks are unscored and come before them all).
RISK_KINDS = ("concentration", "single_facility", "unknown_origin", "undeclared")

_LICENSING = re.compile(r"licensing(?: for [^;]*?)? since (\d{4}-\d{2})")


# --- small figures -------------------------------------------------------------------------------------


def hhi(shares: Mapping[str, float]) -> float:
    """Herfindahl–Hirschman index on the 0–10,000 scale: Σ (100 × share)² over named countries.

    `shares` are fractions of the whole stage mass; the `"unknown"` key is skipped (see the module doc).
    """
    return round_grams(sum((100.0 * s) ** 2 for c, s in shares.items() if c != UNKNOWN and s > 0))


def is_third_country(country: str) -> bool:
    """True for a country outside the EU (the CRMA's "third country"); "unknown" is no country."""
    return country != UNKNOWN and country not in EU_MEMBER_STATES


def share(part: float, whole: float) -> float:
    """`part / whole` without float noise; 0.0 when `whole` is 0."""
    if whole <= 0:
        return 0.0
    return round_grams(part / whole)


def traced(unknown: float, whole: float) -> float:
    """1 - unknown/whole (DESIGN's traced share): 1.0 when `whole` is 0."""
    if whole <= 0:
        return 1.0
    return round_grams(min(1.0, max(0.0, 1.0 - unknown / whole)))


def stage_figures(countries: Mapping[str, float], mass_g: float) -> dict[str, Any]:
    """Mass-weighted country shares, HHI, top country and the CRMA flag of one material at one stage.

    `countries` maps ISO codes (and "unknown") to grams. Countries are listed by descending mass,
    "unknown" last. `top_country` is the largest named country (None when nothing is traced);
    `benchmark_country` is the largest third country and `above_benchmark` whether its share exceeds 65 %.
    """
    named = sorted(
        ((c, g) for c, g in countries.items() if c != UNKNOWN and g > 0), key=lambda i: (-i[1], i[0])
    )
    unknown_g = max(0.0, countries.get(UNKNOWN, 0.0))
    listed = {c: {"mass_g": round_grams(g), "share": share(g, mass_g)} for c, g in named}
    listed[UNKNOWN] = {"mass_g": round_grams(unknown_g), "share": share(unknown_g, mass_g)}
    top_country, top_share = (named[0][0], share(named[0][1], mass_g)) if named else (None, 0.0)
    third = [(c, g) for c, g in named if is_third_country(c)]
    benchmark_country, benchmark_share = (third[0][0], share(third[0][1], mass_g)) if third else (None, 0.0)
    return {
        "countries": listed,
        "unknown_share": listed[UNKNOWN]["share"],
        "traced_share": traced(unknown_g, mass_g),
        "hhi": hhi({c: v["share"] for c, v in listed.items()}),
        "top_country": top_country,
        "top_share": top_share,
        "benchmark_country": benchmark_country,
        "benchmark_share": benchmark_share,
        "above_benchmark": benchmark_share > BENCHMARK_SHARE,
    }


def facility_figures(
    facilities: Mapping[str, float], mass_g: float, traced_processing_g: float
) -> dict[str, Any]:
    """Named processing facilities of a material and whether one facility carries all of it.

    Returns `facilities` (name -> grams, share of the material's mass, share of the mass traced to a
    named facility), `facility_traced_share` (mass with a named facility / mass), and `single_facility`:
    the facility's name when exactly one is named, else None; `covers_all_traced_processing` says
    whether that one facility also carries all the mass traced to a processing country.
    """
    named = sorted(((f, g) for f, g in facilities.items() if g > 0), key=lambda i: (-i[1], i[0]))
    named_total = sum(g for _, g in named)
    listed = {
        f: {"mass_g": round_grams(g), "share": share(g, mass_g), "share_of_named": share(g, named_total)}
        for f, g in named
    }
    single = named[0][0] if len(named) == 1 else None
    return {
        "facilities": listed,
        "facility_traced_share": share(named_total, mass_g),
        "single_facility": single,
        # A tolerance: the facility's grams and the country's grams are sums of the same products.
        "covers_all_traced_processing": single is not None
        and named_total >= traced_processing_g * (1 - 1e-9),
    }


def country_name(code: str, names: Mapping[str, str]) -> str:
    """A country's name (`reference.countries` gives names that read well in a sentence); else the code."""
    return names.get(code, code)


def material_name(material: Material | None, code: str) -> str:
    """The material's name for a sentence: the reference name without its parenthesis, lower case."""
    if material is None:
        return code
    return re.sub(r"\s*\(.*$", "", material.name).strip().lower() or code


def export_licensing_since(material: Material | None) -> str | None:
    """ "YYYY-MM" from which China licenses exports of the material (reference data), else None."""
    if material is None or not material.china_export_control:
        return None
    match = _LICENSING.search(material.china_export_control.split(";")[0])
    return match.group(1) if match else None


def material_risk(code: str, figures: Mapping[str, Any], material: Material | None) -> dict[str, Any]:
    """Every risk figure of one material: reference flags, recycled share, both stages, facilities.

    A material whose mass is out of range (None) has its reference data only: `out_of_range` true, no
    country or facility, every figure None and every flag false. (A mass in range has every part in range:
    no country or facility holds more than the whole.)
    """
    reference = {
        "material": code,
        "name": material.name if material else code,
        "strategic": material.strategic if material else None,
        "critical": material.critical if material else None,
        "supply_risk": material.supply_risk if material else None,
        "economic_importance": material.economic_importance if material else None,
        "main_stage": material.main_stage if material else None,
        "export_control": material.china_export_control if material else "",
    }
    if figures["mass_g"] is None:
        return {
            **reference,
            **_OUT_OF_RANGE_FIGURES,
            **{stage: dict(_OUT_OF_RANGE_STAGE) for stage in STAGES},
        }
    mass = float(figures["mass_g"])
    stages = {stage: stage_figures(figures[stage], mass) for stage in STAGES}
    processing_traced_g = mass - max(0.0, figures["processing"].get(UNKNOWN, 0.0))
    return {
        **reference,
        "out_of_range": False,
        "mass_g": round_grams(mass),
        "recycled_g": round_grams(figures.get("recycled_g", 0.0)),
        "recycled_share": share(figures.get("recycled_g", 0.0), mass),
        **stages,
        **facility_figures(figures.get("facilities", {}), mass, processing_traced_g),
    }


#: `material_risk`'s figures of a material out of range, and of each of its stages.
_OUT_OF_RANGE_FIGURES: dict[str, Any] = {
    "out_of_range": True,
    "mass_g": None,
    "recycled_g": None,
    "recycled_share": None,
    "facilities": {},
    "facility_traced_share": None,
    "single_facility": None,
    "covers_all_traced_processing": False,
}
_OUT_OF_RANGE_STAGE: dict[str, Any] = {
    "countries": {},
    "unknown_share": None,
    "traced_share": None,
    "hhi": None,
    "top_country": None,
    "top_share": None,
    "benchmark_country": None,
    "benchmark_share": None,
    "above_benchmark": False,
}


def add_grams(total: float | None, grams: float | None) -> float | None:
    """`total` + `grams`, None (out of range) when either is or when the sum overflows the float range."""
    if total is None or grams is None:
        return None
    added = total + grams
    return added if math.isfinite(added) else None


def sum_rollups(rollups: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The programme's material figures: the sum of the roots' `rollup` sections, one unit of each root.

    A figure is None (out of range) when one of its terms is, or when the sum overflows (`add_grams`).
    """
    total: dict[str, dict[str, Any]] = {}
    for rollup in rollups:
        for code, figures in rollup.items():
            into = total.setdefault(
                code,
                {"mass_g": 0.0, "recycled_g": 0.0, "extraction": {}, "processing": {}, "facilities": {}},
            )
            into["mass_g"] = add_grams(into["mass_g"], figures["mass_g"])
            into["recycled_g"] = add_grams(into["recycled_g"], figures.get("recycled_g", 0.0))
            for key in ("extraction", "processing", "facilities"):
                for name, grams in figures.get(key, {}).items():
                    into[key][name] = add_grams(into[key].get(name, 0.0), grams)
    for figures in total.values():
        for stage in STAGES:
            figures[stage].setdefault(UNKNOWN, 0.0)
    return dict(sorted(total.items()))


def country_dependence(
    materials: Mapping[str, Mapping[str, Any]], names: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """The programme's dependence on each named country across all materials, per stage.

    Per country and stage: its share of each material it supplies (`materials`), `mass_g` (a plain sum
    over materials, shown for completeness: tonnes of steel swamp grams of gallium), the materials where
    it is the top country (`top_in`) and where it breaks the CRMA benchmark (`above_benchmark_in`),
    `mean_share` (its share averaged over every material of the programme with mass, each material
    counting once; a material out of range has no shares and does not count) and `sr_weighted_share`
    (the same average weighted by each material's EU supply-risk score; None when no material has one).
    Countries are listed by descending `sr_weighted_share`, then `mean_share`.
    """
    names = names or {}
    with_mass = [m for m in materials.values() if (m["mass_g"] or 0.0) > 0]  # out of range: no shares
    sr_total = sum(m["supply_risk"] or 0.0 for m in with_mass)
    result: dict[str, dict[str, Any]] = {}
    for m in with_mass:
        for stage in STAGES:
            for country, figures in m[stage]["countries"].items():
                if country == UNKNOWN:
                    continue
                entry = result.setdefault(country, {"country": country, "name": country_name(country, names)})
                block = entry.setdefault(
                    stage, {"materials": {}, "mass_g": 0.0, "top_in": [], "above_benchmark_in": []}
                )
                block["materials"][m["material"]] = figures["share"]
                block["mass_g"] += figures["mass_g"]
                if m[stage]["top_country"] == country:
                    block["top_in"].append(m["material"])
                if m[stage]["above_benchmark"] and m[stage]["benchmark_country"] == country:
                    block["above_benchmark_in"].append(m["material"])
    supply_risk = {m["material"]: m["supply_risk"] or 0.0 for m in with_mass}
    for entry in result.values():
        for stage in STAGES:
            block = entry.setdefault(
                stage, {"materials": {}, "mass_g": 0.0, "top_in": [], "above_benchmark_in": []}
            )
            block["mass_g"] = round_grams(block["mass_g"])
            block["material_count"] = len(block["materials"])
            block["mean_share"] = share(sum(block["materials"].values()), len(with_mass))
            block["sr_weighted_share"] = (
                share(sum(supply_risk[c] * s for c, s in block["materials"].items()), sr_total)
                if sr_total > 0
                else None
            )

    def rank(entry: dict[str, Any]) -> tuple[float, float, str]:
        weighted = max((entry[s]["sr_weighted_share"] or 0.0) for s in STAGES)
        mean = max(entry[s]["mean_share"] for s in STAGES)
        return (-weighted, -mean, entry["country"])

    return {entry["country"]: entry for entry in sorted(result.values(), key=rank)}


# --- the tree: tiers, branches, gaps ---------------------------------------------------------------------


def _slug(supplier: Any) -> str | None:
    return supplier.get("slug") if isinstance(supplier, Mapping) else None


def iter_nodes(
    views: Sequence[Mapping[str, Any]],
) -> Iterable[tuple[int, Mapping[str, Any], Mapping[str, Any], Mapping[str, Any] | None]]:
    """Every node of every view as (view index, view, node, parent node or None for a root).

    Views list parents before children (breadth first), which is what lets one pass find each parent.
    """
    for index, view in enumerate(views):
        by_id: dict[str, Mapping[str, Any]] = {}
        for node in view["nodes"]:
            by_id[node["id"]] = node
            yield index, view, node, by_id.get(node["parent"]) if node["parent"] is not None else None


def index_requests(
    requests: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str, str], list[Mapping[str, Any]]]:
    """Requests by (requester slug, supplier slug, part number), oldest first (the latest decides)."""
    index: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for request in sorted(requests, key=lambda r: (r["created_at"] or "", r["id"])):
        index.setdefault((request["requester"], request["supplier"], request["part_number"]), []).append(
            request
        )
    return index


def edge_key(node: Mapping[str, Any], parent: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """(lister slug, supplier slug, part number) of a component node; None without a registered supplier."""
    if parent is None:
        return None
    lister, supplier = _slug(parent.get("supplier")), _slug(node.get("supplier"))
    if lister is None or supplier is None or node.get("part_number") is None:
        return None
    return (lister, supplier, node["part_number"])


def completeness(
    views: Sequence[Mapping[str, Any]],
    rollups: Sequence[Mapping[str, Any]],
    materials: Mapping[str, Mapping[str, Any]],
    requests: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """How much of the programme is visible: per tier, per Tier-1 branch, per material, per root.

    `views` are the roots' chain views as the authority sees them; `rollups` the roots' materialised
    rollup data (their coverage is complete even when a view is truncated); `materials` the programme's
    `material_risk` figures; `requests` every request for a component line of the tree.

    Per tier (the tier of a component node; a request counts once, at the smallest tier its line sits):
    component nodes, declared ones, gap nodes by kind, lines asked ("sent") by the status of their latest
    request (answered/declined/open/overdue: the request that decides the line's gap, so an earlier
    request on a line asked again is not counted) and `response_rate` = (answered + declined) / sent
    (None when nothing was sent). Per Tier-1 branch: the
    deepest tier of a declaration node under it (None when the Tier-1 supplier itself has not declared).
    """
    index = index_requests(requests)
    tiers: dict[int, dict[str, Any]] = {}
    edge_tier: dict[tuple[str, str, str], int] = {}
    branches: list[dict[str, Any]] = []
    branch_of: dict[tuple[int, str], dict[str, Any]] = {}
    for view_index, view, node, parent in iter_nodes(views):
        tier = node["tier"]
        if parent is None:
            continue
        row = tiers.setdefault(tier, _tier_row(tier))
        row["components"] += 1
        if node["kind"] == "declaration":
            row["declared"] += 1
        else:
            row["gaps"][node["gap"]] = row["gaps"].get(node["gap"], 0) + 1
        key = edge_key(node, parent)
        if key is not None:
            edge_tier[key] = min(tier, edge_tier.get(key, tier))
        if tier == 1:
            branch = {
                "root": view["root"],
                "part_number": node["part_number"],
                "supplier": node["supplier"],
                "kind": node["kind"],
                "gap": node["gap"],
                "declaration_id": node["declaration_id"],
                "deepest_tier": 1 if node["kind"] == "declaration" else None,
                "components_total": 1,
                "components_declared": 1 if node["kind"] == "declaration" else 0,
            }
            branches.append(branch)
        else:
            branch = branch_of[(view_index, parent["id"])]
            branch["components_total"] += 1
            if node["kind"] == "declaration":
                branch["components_declared"] += 1
                branch["deepest_tier"] = max(branch["deepest_tier"] or 0, tier)
        branch_of[(view_index, node["id"])] = branch
    for key, tier in edge_tier.items():
        if key not in index:
            continue
        row = tiers.setdefault(tier, _tier_row(tier))
        latest = index[key][-1]  # a line asked again counts once, as its latest request (like its gap)
        row["requests"]["sent"] += 1
        if latest["status"] in REQUEST_COUNTS:
            row["requests"][latest["status"]] += 1
    totals = {name: 0 for name in ("sent", *REQUEST_COUNTS)}
    for row in tiers.values():
        row["share_declared"] = share(row["declared"], row["components"])
        row["response_rate"] = _response_rate(row["requests"])
        row["gaps"] = {kind: row["gaps"][kind] for kind in GAP_KINDS if kind in row["gaps"]}
        for name in totals:
            totals[name] += row["requests"][name]
    for branch in branches:
        branch["share_declared"] = share(branch["components_declared"], branch["components_total"])

    components_total = sum(r["coverage"]["components_total"] for r in rollups)
    components_declared = sum(r["coverage"]["components_declared"] for r in rollups)
    return {
        "components_total": components_total,
        "components_declared": components_declared,
        "share_declared": share(components_declared, components_total),
        "max_tier": max((r["coverage"]["max_tier"] for r in rollups), default=0),
        "gaps": gap_counts(r["coverage"] for r in rollups),
        "requests": {**totals, "response_rate": _response_rate(totals)},
        "tiers": [tiers[t] for t in sorted(tiers)],
        "branches": branches,
        "roots": [
            {
                "root": view["root"],
                "part_number": view["nodes"][0]["part_number"],
                "issuer": view["nodes"][0]["supplier"],
                "components_total": rollup["coverage"]["components_total"],
                "components_declared": rollup["coverage"]["components_declared"],
                "share_declared": share(
                    rollup["coverage"]["components_declared"], rollup["coverage"]["components_total"]
                ),
                "max_tier": rollup["coverage"]["max_tier"],
            }
            for view, rollup in zip(views, rollups, strict=True)
        ],
        "materials": {
            code: {
                "mass_g": m["mass_g"],
                "traced_processing": m["processing"]["traced_share"],
                "traced_extraction": m["extraction"]["traced_share"],
                "traced_facility": m["facility_traced_share"],
            }
            for code, m in materials.items()
        },
        "truncated": any(view.get("truncated") for view in views),
    }


def gap_counts(coverages: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Gap nodes per kind summed over materialised coverages (`coverage["gaps"]`), in `GAP_KINDS` order.

    The order is set here, not taken from the stored documents: PostgreSQL's JSONB sorts their keys.
    Kinds without a gap are left out.
    """
    gaps: dict[str, int] = {}
    for coverage in coverages:
        for kind, count in coverage.get("gaps", {}).items():
            gaps[kind] = gaps.get(kind, 0) + count
    return {kind: gaps[kind] for kind in GAP_KINDS if gaps.get(kind)}


def _tier_row(tier: int) -> dict[str, Any]:
    return {
        "tier": tier,
        "components": 0,
        "declared": 0,
        "gaps": {},
        "requests": {name: 0 for name in ("sent", *REQUEST_COUNTS)},
    }


def _response_rate(counts: Mapping[str, int]) -> float | None:
    if not counts["sent"]:
        return None
    return share(counts["answered"] + counts["declined"], counts["sent"])


def gap_list(
    views: Sequence[Mapping[str, Any]], requests: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every gap node with its position: root, tier, path of part numbers from the root, supplier, lister.

    `request` is the latest request for the gap's line (None when there is none), with its dates: the
    overdue list of the report. Gaps are listed in tree order (breadth first per root).
    """
    index = index_requests(requests)
    gaps: list[dict[str, Any]] = []
    for view in views:
        paths: dict[str, list[str | None]] = {}
        by_id: dict[str, Mapping[str, Any]] = {}
        for node in view["nodes"]:
            by_id[node["id"]] = node
            parent = by_id.get(node["parent"]) if node["parent"] is not None else None
            paths[node["id"]] = [*(paths[parent["id"]] if parent else []), node["part_number"]]
            if node["kind"] != "gap":
                continue
            key = edge_key(node, parent)
            matching = index.get(key, []) if key is not None else []
            latest = matching[-1] if matching else None
            gaps.append(
                {
                    "root": view["root"],
                    "tier": node["tier"],
                    "path": paths[node["id"]],
                    "part_number": node["part_number"],
                    "kind": node["gap"],
                    "supplier": node["supplier"],
                    "listed_by": parent["supplier"] if parent else None,
                    "listed_in": parent["declaration_id"] if parent else None,
                    "quantity_in_root": node["quantity_in_root"],
                    "request": dict(latest) if latest is not None else None,
                }
            )
    return gaps


def top_level(candidates: Sequence[str], descendants: Mapping[str, set[str]]) -> list[str]:
    """The candidates that sit under no other candidate: a programme's roots.

    `descendants[c]` holds the declarations reachable below candidate `c`. A candidate reachable from
    another one that it does not reach in turn is nested (a supplier copied the programme name onto its
    own declaration) and is left out; candidates on a common cycle are all kept. Order is kept.
    """
    return [
        c
        for c in candidates
        if not any(
            c in descendants.get(d, set()) and d not in descendants.get(c, set())
            for d in candidates
            if d != c
        )
    ]


# --- ranking and sentences -------------------------------------------------------------------------------


def percent(value: float) -> str:
    """A share as a sentence shows it, and as the portal's pages print it: "98 %" (half up), one decimal
    under 10 % ("1.4 %"), "<0.1 %" for a trace."""
    if 0 < value < 0.0005:
        return "<0.1 %"
    if 0 < value < 0.0995:
        return f"{value * 100:.1f} %"
    return f"{int(value * 100 + 0.5)} %"


def severity(material: Mapping[str, Any]) -> float:
    """The material's EU supply-risk score (2023), or 1.0 (the criticality threshold) when it has none."""
    value = material.get("supply_risk")
    return float(value) if value else 1.0


def rank_risks(
    materials: Mapping[str, Mapping[str, Any]],
    completeness_figures: Mapping[str, Any],
    *,
    reference: Mapping[str, Material] | None = None,
    names: Mapping[str, str] | None = None,
    origins: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Every risk worth a sentence, highest score first, each with its sentence.

    score = exposure × severity × weight, where severity is the material's EU supply-risk score (1.0 when
    the reference gives none), × 1.5 when the country concerned is China and China licenses the
    material's exports:

    * concentration (weight 1): exposure = the top country's share at the material's worse stage (only
      when ≥ 50 %);
    * single_facility (weight 0.75): exposure 1, one named refiner carries all facility-traced mass;
    * unknown_origin (weight 0.5): exposure = the unknown share at the worse stage (only when ≥ 25 %);
    * undeclared (severity 1): exposure = the share of component lines not declared.

    Ties break by kind, material code and stage, so the order is stable. Before them all, unscored
    (`score` None), comes one `out_of_range` risk per material out of range, naming the declarations of
    `origins` (`overflow_start`'s, each with its `materials`) where that material's overflow starts.
    """
    reference = reference or {}
    names = names or {}
    first = [
        out_of_range_risk(code, material_name(reference.get(code), code), origins)
        for code, m in materials.items()
        if m["out_of_range"]
    ]
    risks: list[dict[str, Any]] = []
    for code, m in materials.items():
        if m["out_of_range"] or m["mass_g"] <= 0:
            continue
        ref = reference.get(code)
        name = material_name(ref, code)
        since = export_licensing_since(ref)
        best: dict[str, Any] | None = None
        for stage in STAGES:
            figures = m[stage]
            country = figures["top_country"]
            if country is None or figures["top_share"] < MIN_CONCENTRATION_SHARE:
                continue
            controlled = since is not None and country == "CN"
            score = figures["top_share"] * severity(m) * (EXPORT_CONTROL_FACTOR if controlled else 1.0)
            candidate = {
                "kind": "concentration",
                "material": code,
                "stage": stage,
                "country": country,
                "share": figures["top_share"],
                "hhi": figures["hhi"],
                "above_benchmark": figures["above_benchmark"] and figures["benchmark_country"] == country,
                "export_licensing_since": since if controlled else None,
                "score": round_grams(score * CONCENTRATION_WEIGHT),
            }
            candidate["sentence"] = _concentration_sentence(candidate, name, names)
            if best is None or candidate["score"] > best["score"]:
                best = candidate
        if best is not None:
            risks.append(best)
        if m["single_facility"] is not None:
            facility = m["single_facility"]
            risks.append(
                {
                    "kind": "single_facility",
                    "material": code,
                    "stage": "processing",
                    "facility": facility,
                    "share": m["facility_traced_share"],
                    "score": round_grams(severity(m) * FACILITY_WEIGHT),
                    "sentence": (
                        f"One facility, {facility}, refines all of the programme's {name} that is traced to "
                        f"a named refiner ({percent(m['facility_traced_share'])} of its mass)."
                    ),
                }
            )
        worst: dict[str, Any] | None = None
        for stage in STAGES:
            unknown = m[stage]["unknown_share"]
            if unknown < MIN_UNKNOWN_SHARE:
                continue
            candidate = {
                "kind": "unknown_origin",
                "material": code,
                "stage": stage,
                "share": unknown,
                "score": round_grams(unknown * severity(m) * UNKNOWN_WEIGHT),
                "sentence": f"The {STAGE_NOUNS[stage]} country of {percent(unknown)} of the programme's "
                f"{name} is unknown.",
            }
            if worst is None or candidate["score"] > worst["score"]:
                worst = candidate
        if worst is not None:
            risks.append(worst)
    total = completeness_figures["components_total"]
    undeclared = total - completeness_figures["components_declared"]
    if undeclared > 0:
        exposure = share(undeclared, total)
        kinds = ", ".join(
            f"{count} {_GAP_WORDS[kind]}" for kind, count in completeness_figures["gaps"].items() if count
        )
        risks.append(
            {
                "kind": "undeclared",
                "material": None,
                "stage": None,
                "share": exposure,
                "score": round_grams(exposure * UNDECLARED_SEVERITY),
                "sentence": f"{undeclared} of the programme's {total} component lines ({percent(exposure)}) "
                f"are not declared{': ' + kinds if kinds else ''}.",
            }
        )
    risks.sort(
        key=lambda r: (-r["score"], RISK_KINDS.index(r["kind"]), r["material"] or "", r["stage"] or "")
    )
    ranked = first + risks
    for rank, risk in enumerate(ranked, start=1):
        risk["rank"] = rank
    return ranked


def out_of_range_risk(code: str, name: str, origins: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The risk of a material out of range: unscored, with the declarations where its overflow starts.

    `origins` are `{"declaration_id", "part_number", "issuer": {"slug", "name", "country"}, "materials"}`;
    those whose `materials` hold `code` are named. With none (the programme's roots are each in range but
    add up beyond it), the sentence says so.
    """
    starts = [o for o in origins if code in o["materials"]]
    where = (
        "it starts in " + "; ".join(f"{o['part_number']} declared by {_issuer(o['issuer'])}" for o in starts)
        if starts
        else "the programme's top-level declarations add up beyond it"
    )
    return {
        "kind": "out_of_range",
        "material": code,
        "stage": None,
        "share": None,
        "score": None,
        "declarations": [
            {"declaration_id": o["declaration_id"], "part_number": o["part_number"], "issuer": o["issuer"]}
            for o in starts
        ],
        "sentence": f"The programme's {name} figures are out of range (beyond the largest number a figure "
        f"can hold): {where}. Ask for a corrected declaration.",
    }


def _issuer(issuer: Mapping[str, Any]) -> str:
    return f"{issuer['name']} ({issuer['slug']}, {issuer['country']})"


def out_of_range_figures(rollup: Mapping[str, Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """(material, field, country or facility; "" for a mass) of every figure of a materialised rollup
    that is out of range (null)."""
    found: set[tuple[str, str, str]] = set()
    for code, figures in rollup.items():
        for key in ("mass_g", "recycled_g"):
            if figures.get(key, 0.0) is None:
                found.add((code, key, ""))
        for key in ("extraction", "processing", "facilities"):
            found.update((code, key, name) for name, grams in figures.get(key, {}).items() if grams is None)
    return found


def overflow_start(
    rollup: Mapping[str, Mapping[str, Any]], children: Iterable[Mapping[str, Mapping[str, Any]]]
) -> list[str]:
    """The materials whose overflow starts in a declaration: a figure of its `rollup` is out of range
    while that figure of none of its `children`'s rollups is, so its own lines or quantities put it
    there. Sorted by code."""
    inherited = set().union(*(out_of_range_figures(child) for child in children))
    return sorted({code for code, _, _ in out_of_range_figures(rollup) - inherited})


_GAP_WORDS = {
    "open": "awaiting an answer",
    "overdue": "overdue",
    "declined": "declined",
    "unknown_supplier": "with an unknown supplier",
    "not_requested": "never requested",
    "cycle": "in a cycle",
}


def _concentration_sentence(risk: Mapping[str, Any], name: str, names: Mapping[str, str]) -> str:
    country = country_name(risk["country"], names)
    text = (
        f"{percent(risk['share'])} of the programme's {name} is {STAGE_VERBS[risk['stage']]} in {country} "
        f"(HHI {round(risk['hhi']):,})"
    )
    if risk["export_licensing_since"]:
        return f"{text}; {country} has licensed {name} exports since {risk['export_licensing_since']}."
    if risk["above_benchmark"]:
        return f"{text}, above the Critical Raw Materials Act's 65 % benchmark."
    return f"{text}."


def summary(ranked: Sequence[Mapping[str, Any]], limit: int = SUMMARY_LENGTH) -> list[str]:
    """The sentences of the `limit` highest-ranked risks: what a minister reads first."""
    return [risk["sentence"] for risk in ranked[:limit]]


# --- the whole report and the observatory -----------------------------------------------------------------


def report_figures(
    views: Sequence[Mapping[str, Any]],
    rollups: Sequence[Mapping[str, Any]],
    requests: Sequence[Mapping[str, Any]],
    *,
    reference: Mapping[str, Material],
    names: Mapping[str, str],
    origins: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """`completeness`, `risk`, `gaps` and `summary` of a programme from plain values.

    `views[i]` and `rollups[i]` belong to the same root (chain view as the authority sees it; the
    materialised `Rollup.data`); `requests` are the requests for component lines of the tree; `origins`
    the declarations where figures out of range start (see `rank_risks`).
    """
    programme = sum_rollups(r["rollup"] for r in rollups)
    materials = {
        code: material_risk(code, figures, reference.get(code)) for code, figures in programme.items()
    }
    complete = completeness(views, rollups, materials, requests)
    ranked = rank_risks(materials, complete, reference=reference, names=names, origins=origins)
    risk = {
        "materials": materials,
        "benchmark_breaches": [
            {
                "material": code,
                "stage": stage,
                "country": m[stage]["benchmark_country"],
                "share": m[stage]["benchmark_share"],
            }
            for code, m in materials.items()
            for stage in STAGES
            if m[stage]["above_benchmark"]
        ],
        "single_facility_dependencies": [
            {
                "material": code,
                "facility": m["single_facility"],
                "mass_g": m["facilities"][m["single_facility"]]["mass_g"],
                "share": m["facility_traced_share"],
                "covers_all_traced_processing": m["covers_all_traced_processing"],
            }
            for code, m in materials.items()
            if m["single_facility"] is not None
        ],
        "countries": country_dependence(materials, names),
        "ranked": ranked,
    }
    return {
        "completeness": complete,
        "risk": risk,
        "gaps": gap_list(views, requests),
        "summary": summary(ranked),
    }


def observatory_figures(
    programmes: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    reference: Mapping[str, Material],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """The cross-programme aggregate per material and country, with no supplier identity at all.

    `programmes` maps each programme to its roots' `rollup` sections; names of programmes are not
    returned, nor facilities, organisations or declarations: only materials, countries and numbers. A
    material out of range in some programme (or in their sum) is `out_of_range`, as in `material_risk`.
    """
    materials: dict[str, dict[str, Any]] = {}
    used_by: dict[str, int] = {}
    rollups = []
    for roots in programmes.values():
        total = sum_rollups(roots)
        for code, figures in total.items():
            if figures["mass_g"] is None or figures["mass_g"] > 0:
                used_by[code] = used_by.get(code, 0) + 1
        rollups.append(total)
    for code, figures in sum_rollups(rollups).items():
        ref = reference.get(code)
        risk = material_risk(code, {**figures, "facilities": {}}, ref)
        materials[code] = {
            "material": code,
            "name": risk["name"],
            "strategic": risk["strategic"],
            "critical": risk["critical"],
            "supply_risk": risk["supply_risk"],
            "export_control": risk["export_control"],
            "programmes": used_by.get(code, 0),
            "out_of_range": risk["out_of_range"],
            "mass_g": risk["mass_g"],
            "recycled_share": risk["recycled_share"],
            "extraction": risk["extraction"],
            "processing": risk["processing"],
        }
    return {
        "programmes": len(programmes),
        "materials": materials,
        "countries": country_dependence(materials, names),
    }
