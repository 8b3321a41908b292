"""The merge: pure functions that roll declarations up into chain figures. No session, no ORM here.

A declaration contributes, per unit of its part, the material lines it declares itself plus, for each
component, `quantity` x the figures of the declaration the component resolves to (see
`resolve_component`). A component that re-enters a declaration already on the path from the root is a
`cycle` gap: it contributes nothing and counts as undeclared. Because of that rule the figures of a node
depend on its path, but only through the declarations of its own strongly connected component (SCC): a
declaration on the path above a node that the node can also reach is necessarily in the node's SCC. So
figures are memoised "as root" for every declaration, and per (declaration, path ∩ SCC) inside cycles.
The number of such states grows exponentially with a dense SCC (N parts each listing all the others), so
an SCC whose exact figures would need more than `CYCLE_GROUP_BUDGET` states is "over-large": inside it
every component resolving to a member is a `cycle` gap, whatever the path (see `Merger.capped`).

Material figures are plain JSON-ready dicts, the same shape in memory, in `Rollup.data` and (minus
`facilities`) in the API::

    {"mass_g": 12.5, "recycled_g": 0.0,
     "extraction": {"CN": 10.0, "unknown": 2.5},      # always carries "unknown", 0.0 when fully traced
     "processing": {"CN": 12.25, "unknown": 0.25},
     "facilities": {"Jinlu Ga refinery": 12.25}}      # processing mass per named facility (materialised only)

A figure beyond the float range is "out of range": `inf` in memory (a finite quantity > 0 times `inf`,
plus anything, stays `inf`), JSON `null` in `Rollup.data` and in the API, and `inf` again when read back
(`figures_from_data`), so every ancestor that includes it is out of range for that same figure while
its other figures stay exact. Every declared mass and quantity is finite, and so is the sum of a
declaration's own lines per material (the acceptance rules): figures overflow where the merge multiplies
a huge mass by a huge quantity, or adds up many large figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

#: Every kind of gap node, in the order reports list them.
GAP_KINDS = ("open", "overdue", "declined", "unknown_supplier", "not_requested", "cycle")
#: The country key of mass whose origin the declarations do not name.
UNKNOWN = "unknown"
STAGES = ("extraction", "processing")
#: Most (declaration, path ∩ SCC) states the exact figures of one cycle group may need. Rings of up to
#: 141 members and groups of up to 11 members that all list each other stay exact; the merge of a group
#: near the budget takes about 0.3 s, deciding that a group is over it about 0.05 s.
CYCLE_GROUP_BUDGET = 20_000
#: How people read a figure that is out of range (see the module docstring).
OUT_OF_RANGE = "out of range"


@dataclass(frozen=True, slots=True)
class Origin:
    """One entry of a material line's extraction or processing list."""

    country: str
    share: float
    facility: str | None = None

    @classmethod
    def from_payload(cls, origin: Mapping[str, Any]) -> Origin:
        return cls(origin["country"], float(origin["share"]), origin.get("facility"))

    def as_payload(self) -> dict[str, Any]:
        """The origin as payload v1 writes it (facility only when named)."""
        origin: dict[str, Any] = {"country": self.country, "share": self.share}
        if self.facility:
            origin["facility"] = self.facility
        return origin


@dataclass(frozen=True, slots=True)
class MaterialLine:
    """Mass of one material the issuer adds itself, per unit of its part."""

    material: str
    mass_g: float
    extraction: tuple[Origin, ...] = ()
    processing: tuple[Origin, ...] = ()
    recycled_share: float = 0.0

    @classmethod
    def from_payload(cls, line: Mapping[str, Any]) -> MaterialLine:
        """A payload v1 material line (already validated)."""
        return cls(
            material=line["material"],
            mass_g=float(line["mass_g"]),
            extraction=tuple(Origin.from_payload(o) for o in line.get("extraction", [])),
            processing=tuple(Origin.from_payload(o) for o in line.get("processing", [])),
            recycled_share=float(line.get("recycled_share", 0.0)),
        )

    def as_payload(self) -> dict[str, Any]:
        """The material line as payload v1 writes it."""
        return {
            "material": self.material,
            "mass_g": self.mass_g,
            "extraction": [origin.as_payload() for origin in self.extraction],
            "processing": [origin.as_payload() for origin in self.processing],
            "recycled_share": self.recycled_share,
        }


@dataclass(frozen=True)
class Component:
    """One component line: `quantity` units of (supplier, part_number) go into one unit of the part."""

    part_number: str
    supplier_id: int | None
    quantity: float
    request_disclosure: bool = False
    disclose_to: str = "authority"
    #: Who the issuer says the supplier is when it is not on the portal (supplier_id None).
    supplier_name: str | None = None
    supplier_country: str | None = None


@dataclass(frozen=True)
class DeclarationFacts:
    """What the merge needs of a declaration: its issuer, part, own material lines and components."""

    id: str
    issuer_id: int
    part_number: str
    materials: tuple[MaterialLine, ...] = ()
    components: tuple[Component, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """Where a component leads: a declaration (`declaration_id`) or a gap (`gap`), never both.

    A resolution to a declaration can still become a `cycle` gap in a particular path (see `merge`).
    """

    declaration_id: str | None = None
    gap: str | None = None


def resolve_component(
    issuer_id: int,
    component: Component,
    current: Mapping[tuple[int, str], str],
    latest_request_status: Mapping[tuple[int, int, str], str],
) -> Resolution:
    """Resolve a component of a declaration issued by `issuer_id`.

    `current` maps (issuer id, part number) to that part's current declaration; `latest_request_status`
    maps (requester id, supplier id, part number) to the status of the latest such request. A null
    supplier is `unknown_supplier`; a current declaration of the supplier's part wins; else the latest
    request from the listing issuer decides (`declined`, `overdue`, `open`); with no request (or an
    answered one whose answer is gone), `request_disclosure` gives `open`, else `not_requested`.
    """
    if component.supplier_id is None:
        return Resolution(gap="unknown_supplier")
    target = current.get((component.supplier_id, component.part_number))
    if target is not None:
        return Resolution(declaration_id=target)
    status = latest_request_status.get((issuer_id, component.supplier_id, component.part_number))
    if status in ("declined", "overdue", "open"):
        return Resolution(gap=status)
    return Resolution(gap="open" if component.request_disclosure else "not_requested")


@dataclass(frozen=True)
class ChainGraph:
    """A snapshot of the declarations to merge and what their components resolve against."""

    declarations: Mapping[str, DeclarationFacts]
    #: (issuer id, part number) -> the current declaration of that part.
    current: Mapping[tuple[int, str], str] = field(default_factory=dict)
    #: (requester id, supplier id, part number) -> status of the latest such request.
    requests: Mapping[tuple[int, int, str], str] = field(default_factory=dict)

    def resolve(self, facts: DeclarationFacts, component: Component) -> Resolution:
        return resolve_component(facts.issuer_id, component, self.current, self.requests)


#: A key of `Figures.grams`: (material, field, name). Fields: "mass_g" and "recycled_g" (name ""),
#: "extraction" and "processing" (name: a country code or "unknown"), "facilities" (name: a facility).
GramsKey = tuple[str, str, str]


@dataclass(frozen=True)
class Figures:
    """Rolled-up figures of one node per unit of its part. Treat the mappings as read-only.

    The grams are kept flat, so that adding a child's figures is one loop over one dict: the merge spends
    most of its time there. `materials` gives the nested, JSON-ready form. A gram figure out of range is
    `inf` (see the module docstring).
    """

    grams: Mapping[GramsKey, float]
    #: Component nodes of the unfolded subtree (the node itself excluded); gaps count as undeclared.
    components_total: int = 0
    components_declared: int = 0
    #: Largest tier of a declaration node below, relative to this node (0: no declared component).
    max_tier: int = 0
    #: gap kind -> number of gap nodes in the unfolded subtree.
    gaps: Mapping[str, int] = field(default_factory=dict)

    @cached_property
    def materials(self) -> dict[str, dict[str, Any]]:
        """material code -> {"mass_g", "recycled_g", "extraction", "processing", "facilities"}."""
        nested: dict[str, dict[str, Any]] = {}
        for (material, key, name), grams in self.grams.items():
            figures = nested.get(material)
            if figures is None:
                figures = nested[material] = _empty_material()
            if name:
                figures[key][name] = grams
            else:
                figures[key] = grams
        return dict(sorted(nested.items()))


def own_figures(facts: DeclarationFacts) -> Figures:
    """The figures of a declaration's own material lines; several lines of a material add up."""
    grams: dict[GramsKey, float] = {}

    def add(key: GramsKey, value: float) -> None:
        grams[key] = grams.get(key, 0.0) + value

    for line in facts.materials:
        material, mass = line.material, line.mass_g
        add((material, "mass_g", ""), mass)
        add((material, "recycled_g", ""), line.recycled_share * mass)
        for stage in STAGES:
            origins: tuple[Origin, ...] = getattr(line, stage)
            for origin in origins:
                if origin.share > 0:
                    add((material, stage, origin.country), origin.share * mass)
            add((material, stage, UNKNOWN), max(0.0, 1.0 - sum(o.share for o in origins)) * mass)
        for origin in line.processing:
            if origin.facility and origin.share > 0:
                add((material, "facilities", origin.facility), origin.share * mass)
    return Figures(grams=grams)


def strongly_connected_components(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's SCCs of a directed graph, children before parents (reverse topological order).

    Iterative, so a long chain cannot exhaust Python's recursion limit. Targets missing from `edges`
    are treated as sinks outside the graph and left out.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work: list[tuple[str, Any]] = [(start, iter(edges[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
    return result


class Merger:
    """Computes figures over a `ChainGraph`, memoised exactly (see the module docstring), over-large
    cycle groups capped (`capped`).

    `known` holds figures "as root" of declarations outside the graph (the materialised rollups of
    children that need no recomputation). A component resolving to a declaration that is neither in the
    graph nor in `known` raises KeyError: the caller loaded too little.
    """

    def __init__(self, graph: ChainGraph, known: Mapping[str, Figures] | None = None):
        self.graph = graph
        self.known = known or {}
        self._own: dict[str, Figures] = {}
        self._resolved: dict[str, list[tuple[Component, Resolution]]] = {}
        edges: dict[str, list[str]] = {}
        for declaration_id, facts in graph.declarations.items():
            resolved = [(c, graph.resolve(facts, c)) for c in facts.components]
            self._resolved[declaration_id] = resolved
            edges[declaration_id] = [r.declaration_id for _, r in resolved if r.declaration_id is not None]
        self.order = strongly_connected_components(edges)
        #: declaration id -> the members of its SCC when that SCC has more than one member.
        self.cycle_group: dict[str, frozenset[str]] = {}
        for members in self.order:
            if len(members) > 1:
                group = frozenset(members)
                for member in members:
                    self.cycle_group[member] = group
        self._capped: dict[frozenset[str], bool] = {}
        self._as_root: dict[str, Figures] = {}
        self._on_path: dict[tuple[str, frozenset[str]], Figures] = {}

    def resolutions(self, declaration_id: str) -> list[tuple[Component, Resolution]]:
        """The components of a declaration of the graph with what each resolves to."""
        return self._resolved[declaration_id]

    def as_root(self, declaration_id: str) -> Figures:
        """Figures of a declaration viewed as the root of its chain."""
        if declaration_id not in self._as_root:
            if declaration_id not in self.graph.declarations:
                return self.known[declaration_id]
            # Children first: every SCC is computed after the SCCs it reaches.
            for members in self.order:
                for member in members:
                    if member not in self._as_root:
                        self._as_root[member] = self.on_path(member, frozenset({member}))
        return self._as_root[declaration_id]

    def compute_all(self) -> dict[str, Figures]:
        """Figures "as root" of every declaration of the graph."""
        return {declaration_id: self.as_root(declaration_id) for declaration_id in self.graph.declarations}

    def capped(self, group: frozenset[str]) -> bool:
        """Whether the cycle group `group` is over-large: its exact figures need more than
        `CYCLE_GROUP_BUDGET` (declaration, path ∩ group) states.

        Then the figures of each member are its own lines plus its components outside the group, and
        every component resolving to a member is a `cycle` gap, on every path. The states are counted
        (not computed) until they pass the budget, so the answer depends on the group alone.
        """
        capped = self._capped.get(group)
        if capped is None:
            capped = self._capped[group] = self._count_states(group) > CYCLE_GROUP_BUDGET
        return capped

    def _count_states(self, group: frozenset[str]) -> int:
        """How many states `on_path` memoises for the members of `group` as roots, counted only until they
        pass the budget; iterative, so a long ring cannot exhaust Python's recursion limit."""
        # Members as bit numbers and paths as bit masks: much cheaper than frozensets.
        bit = {member: 1 << number for number, member in enumerate(sorted(group))}
        inside = {
            bit[member]: [bit[r.declaration_id] for _, r in self._resolved[member] if r.declaration_id in bit]
            for member in group
        }
        # A state is counted when first reached, so the stack never outgrows the budget much.
        seen = {(member, member) for member in inside}
        stack = list(seen)
        while stack and len(seen) <= CYCLE_GROUP_BUDGET:
            member, path = stack.pop()
            for target in inside[member]:
                state = (target, path | target)
                if not path & target and state not in seen:
                    seen.add(state)
                    stack.append(state)
        return len(seen)

    def on_path(self, declaration_id: str, path: frozenset[str]) -> Figures:
        """Figures of a declaration node whose path from the root holds the declarations `path`.

        Only the part of `path` inside the node's SCC matters (and is used as the memo key); none of it
        when the SCC is over-large (`capped`).
        """
        group = self.cycle_group.get(declaration_id)
        if group is None:
            relevant = frozenset({declaration_id})
        elif self.capped(group):
            # Every member counts as on the path: each component into the group is a `cycle` gap.
            relevant, group = group, None
        else:
            relevant = path & group
        key = (declaration_id, relevant)
        cached = self._on_path.get(key)
        if cached is not None:
            return cached
        own = self._own.get(declaration_id)
        if own is None:
            own = self._own[declaration_id] = own_figures(self.graph.declarations[declaration_id])
        builder = _Builder(own)
        for component, resolution in self._resolved[declaration_id]:
            target = resolution.declaration_id
            if target is None:
                builder.add_gap(resolution.gap or "open")
            elif target in relevant:
                builder.add_gap("cycle")
            elif group is not None and target in group:
                builder.add_child(component.quantity, self.on_path(target, relevant | {target}))
            elif target in self.graph.declarations:
                builder.add_child(component.quantity, self._child_as_root(target))
            else:
                builder.add_child(component.quantity, self.known[target])
        figures = builder.build()
        self._on_path[key] = figures
        return figures

    def _child_as_root(self, declaration_id: str) -> Figures:
        figures = self._as_root.get(declaration_id)
        if figures is None:
            # Reached only when on_path is called directly, before compute_all: fill the memo in order.
            return self.as_root(declaration_id)
        return figures


def merge(
    graph: ChainGraph,
    declaration_ids: Iterable[str] | None = None,
    known: Mapping[str, Figures] | None = None,
) -> dict[str, Figures]:
    """Figures "as root" of `declaration_ids` (default: every declaration of the graph)."""
    merger = Merger(graph, known)
    if declaration_ids is None:
        return merger.compute_all()
    return {declaration_id: merger.as_root(declaration_id) for declaration_id in declaration_ids}


class _Builder:
    """Accumulates one node's figures: its own lines plus quantity x each child."""

    __slots__ = ("declared", "gaps", "grams", "max_tier", "total")

    def __init__(self, own: Figures):
        self.grams = dict(own.grams)
        self.total = 0
        self.declared = 0
        self.max_tier = 0
        self.gaps: dict[str, int] = {}

    def add_gap(self, kind: str) -> None:
        self.total += 1
        self.gaps[kind] = self.gaps.get(kind, 0) + 1

    def add_child(self, quantity: float, child: Figures) -> None:
        self.total += 1 + child.components_total
        self.declared += 1 + child.components_declared
        self.max_tier = max(self.max_tier, child.max_tier + 1)
        for kind, count in child.gaps.items():
            self.gaps[kind] = self.gaps.get(kind, 0) + count
        grams = self.grams
        get = grams.get
        for key, value in child.grams.items():
            grams[key] = get(key, 0.0) + quantity * value

    def build(self) -> Figures:
        return Figures(
            grams=self.grams,
            components_total=self.total,
            components_declared=self.declared,
            max_tier=self.max_tier,
            gaps=dict(sorted(self.gaps.items())),
        )


def _empty_material() -> dict[str, Any]:
    return {
        "mass_g": 0.0,
        "recycled_g": 0.0,
        "extraction": {UNKNOWN: 0.0},
        "processing": {UNKNOWN: 0.0},
        "facilities": {},
    }


# --- presentation: the API's rollup and coverage objects -------------------------------------------------


def round_grams(value: float) -> float:
    """`value` to 12 significant digits: hides float noise (0.30000000000000004) and loses nothing real."""
    return float(f"{value:.12g}")


def json_grams(value: float) -> float | None:
    """A gram figure as JSON holds it: rounded by `round_grams`, or None (null) when out of range.

    Rounding a finite figure never overflows: the largest float, 1.7976931348623157e308, rounds down.
    """
    return round_grams(value) if math.isfinite(value) else None


def rollup_view(figures: Figures) -> dict[str, dict[str, Any]]:
    """The API rollup: per material mass_g, recycled_g and country masses per stage, "unknown" last.

    Countries are listed by descending mass; grams are rounded by `round_grams`, None when out of range.
    Facilities are not part of the API.
    """
    return public_rollup(rollup_data(figures))


def public_rollup(rollup: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The API rollup from a materialised one (`rollup_data`): the same, without facilities.

    Materials and countries are put back in `rollup_data`'s order: a stored document may have lost it
    (PostgreSQL's JSONB sorts keys by length, then bytes).
    """
    return {
        material: {
            "mass_g": f["mass_g"],
            "recycled_g": f["recycled_g"],
            "extraction": _in_mass_order(f["extraction"], last=UNKNOWN),
            "processing": _in_mass_order(f["processing"], last=UNKNOWN),
        }
        for material, f in sorted(rollup.items())
    }


def public_coverage(coverage: Mapping[str, Any]) -> dict[str, Any]:
    """The API coverage from a materialised one (`figures_to_data`): without `gaps`, in DESIGN's order."""
    traced = coverage["traced"]
    return {
        "components_total": coverage["components_total"],
        "components_declared": coverage["components_declared"],
        "max_tier": coverage["max_tier"],
        "traced": {
            material: {stage: traced[material][stage] for stage in STAGES} for material in sorted(traced)
        },
    }


def rollup_data(figures: Figures) -> dict[str, dict[str, Any]]:
    """The materialised rollup: the API rollup plus `facilities` (grams per named processing facility)."""
    return {
        material: {
            "mass_g": json_grams(f["mass_g"]),
            "recycled_g": json_grams(f["recycled_g"]),
            "extraction": _by_mass(f["extraction"], last=UNKNOWN),
            "processing": _by_mass(f["processing"], last=UNKNOWN),
            "facilities": _by_mass(f["facilities"]),
        }
        for material, f in figures.materials.items()
    }


def _by_mass(grams: Mapping[str, float], last: str | None = None) -> dict[str, float | None]:
    """`grams` as `json_grams` gives them, in `_in_mass_order`."""
    return _in_mass_order({key: json_grams(value) for key, value in grams.items()}, last)


def heaviest_first(key: str, grams: float | None) -> tuple[bool, float, str]:
    """The sort key of the heaviest first: by descending grams, out of range (None) before all (it is
    the largest), then by key."""
    return (grams is not None, -(grams or 0.0), key)


def materials_by_mass(rollup: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """A rollup's materials, the heaviest first (`heaviest_first`)."""
    return sorted(rollup.items(), key=lambda item: heaviest_first(item[0], item[1]["mass_g"]))


def _in_mass_order(grams: Mapping[str, float | None], last: str | None = None) -> dict[str, float | None]:
    """By descending mass (out of range, None, first: it is the largest), then by key; `last` (when
    given) at the end, 0.0 when absent.

    A function of the rounded values alone, so a reader can restore the order of a stored rollup.
    """

    view = dict(
        sorted(((k, g) for k, g in grams.items() if k != last), key=lambda item: heaviest_first(*item))
    )
    if last is not None:
        view[last] = grams.get(last, 0.0)
    return view


def traced_shares(figures: Figures) -> dict[str, dict[str, float | None]]:
    """Per material and stage, 1 - unknown/mass_g: the share of mass traced to a named country; None
    when the mass or its unknown part is out of range (no share can be computed from them)."""
    traced: dict[str, dict[str, float | None]] = {}
    for material, f in figures.materials.items():
        mass = f["mass_g"]
        traced[material] = {stage: _traced(f[stage].get(UNKNOWN, 0.0), mass) for stage in STAGES}
    return traced


def _traced(unknown: float, mass: float) -> float | None:
    if not (math.isfinite(unknown) and math.isfinite(mass)):
        return None
    if mass <= 0:
        return 1.0
    return round_grams(min(1.0, max(0.0, 1.0 - unknown / mass)))


def coverage_view(figures: Figures) -> dict[str, Any]:
    """The API coverage object of a root: component counts, deepest tier and traced shares."""
    return {
        "components_total": figures.components_total,
        "components_declared": figures.components_declared,
        "max_tier": figures.max_tier,
        "traced": traced_shares(figures),
    }


# --- materialised form (Rollup.data) ---------------------------------------------------------------------


def figures_to_data(figures: Figures) -> dict[str, Any]:
    """The materialised JSON form of figures (`Rollup.data["rollup"]` and `["coverage"]`).

    Like the API's rollup and coverage (grams rounded to 12 significant digits, which loses nothing a
    declaration can say; null when out of range), plus `facilities` per material and the number of gap
    nodes per kind in `coverage["gaps"]`.
    """
    return {
        "rollup": rollup_data(figures),
        "coverage": {**coverage_view(figures), "gaps": dict(figures.gaps)},
    }


def figures_from_data(data: Mapping[str, Any]) -> Figures:
    """Figures back from `figures_to_data`'s JSON form (extra keys of `data` are ignored); a null figure
    is out of range again (`inf`)."""
    grams: dict[GramsKey, float] = {}
    for material, f in data["rollup"].items():
        grams[(material, "mass_g", "")] = _from_json(f["mass_g"])
        grams[(material, "recycled_g", "")] = _from_json(f["recycled_g"])
        for key in ("extraction", "processing", "facilities"):
            for name, value in f.get(key, {}).items():
                grams[(material, key, name)] = _from_json(value)
    coverage = data["coverage"]
    return Figures(
        grams=grams,
        components_total=coverage["components_total"],
        components_declared=coverage["components_declared"],
        max_tier=coverage["max_tier"],
        gaps=coverage.get("gaps", {}),
    )


def _from_json(value: float | None) -> float:
    return math.inf if value is None else value


# --- redaction ---------------------------------------------------------------------------------------------


def may_see_supplier(
    *,
    viewer_id: int | None,
    viewer_is_authority: bool,
    supplier_id: int | None,
    lister_id: int,
    disclose_to: str,
    viewer_is_lister_customer: bool,
    viewer_is_above_lister: bool,
) -> bool:
    """DESIGN's redaction rule for a supplier S listed as a component by issuer X (`lister_id`).

    The viewer sees S when it is S, is X, is the authority, is a customer of X's declaration and X chose
    "requester" or "chain", or issues a declaration above X on the path from the root and X chose "chain".
    """
    if viewer_is_authority:
        return True
    if viewer_id is not None and viewer_id in (lister_id, supplier_id):
        return True
    if disclose_to in ("requester", "chain") and viewer_is_lister_customer:
        return True
    return disclose_to == "chain" and viewer_is_above_lister


#: A node of a chain view (its JSON object).
_Node = TypeVar("_Node", bound=Mapping[str, Any])


def depth_first(nodes: Iterable[_Node]) -> list[tuple[_Node, tuple[str | None, ...]]]:
    """A chain view's nodes (listed breadth first) in tree order, depth first, each with the part numbers
    from the root down to it (None where a node's part number is withheld). Parents come before their
    children, siblings in the view's order; no recursion, since chains can be deep."""
    children: dict[Any, list[_Node]] = {}
    for node in nodes:
        children.setdefault(node.get("parent"), []).append(node)
    ordered: list[tuple[_Node, tuple[str | None, ...]]] = []
    stack: list[tuple[_Node, tuple[str | None, ...]]] = [
        (node, ()) for node in reversed(children.get(None, []))
    ]
    while stack:
        node, above = stack.pop()
        path = (*above, node.get("part_number"))
        ordered.append((node, path))
        stack.extend((child, path) for child in reversed(children.get(node["id"], [])))
    return ordered
