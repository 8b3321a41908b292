"""`tiertrace chain`: a chain view from the database, printed as a tree with its rollup and coverage."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import click

from cli.console import console_session, console_via, require_viewer
from cli.main import main
from tiertrace.chains.merge import OUT_OF_RANGE, UNKNOWN, materials_by_mass
from tiertrace.chains.services import DEFAULT_MAX_NODES, chain_view
from tiertrace.db import begin_snapshot
from tiertrace.errors import NotFoundError
from tiertrace.numbers import significant

#: How a gap reads in the tree.
GAP_LABELS = {
    "open": "no answer yet (request open)",
    "overdue": "no answer, request OVERDUE",
    "declined": "supplier DECLINED",
    "unknown_supplier": "supplier unknown",
    "not_requested": "not requested",
    "cycle": "CYCLE: re-enters a declaration above",
}


@main.command("chain")
@click.argument("declaration_id")
@click.option(
    "--as",
    "as_slug",
    metavar="ORG_SLUG",
    help="View as this organisation, with its redaction (default: the authority view of the operator's "
    "console, audit-logged).",
)
@click.option("--depth", type=click.IntRange(min=0), help="Stop the tree at this tier (the root is tier 0).")
@click.option(
    "--max-nodes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_NODES,
    show_default=True,
    help="List at most this many nodes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the chain view as JSON (the API's response).")
def chain(declaration_id: str, as_slug: str | None, depth: int | None, max_nodes: int, as_json: bool) -> None:
    """Print the chain of DECLARATION_ID: the tree of suppliers, the rollup and the coverage.

    Each line of the tree is a node: its tier, part number, quantity per unit of its parent (in units
    of its own part: ×0.158 cm2), supplier (or "undisclosed" where the viewer may not learn it) and its
    top three materials per unit of its part, with the main countries per stage. Gaps (open, overdue
    or declined requests, unknown suppliers, components not requested, cycles) are marked "GAP". A
    figure of 1e15 or more reads in scientific notation (1.23e+301); one beyond the range of a number
    (a float overflow) reads "out of range", null with --json. Reads TIERTRACE_DATABASE_URL, or the
    SQLite file in TIERTRACE_DATA_DIR; a read in the authority view (the default) is written to the
    audit log.

    \b
    Examples (the ship of `tiertrace demo`):
      tiertrace chain faa6daa5-13fb-56a7-bbdc-76409bf19d60
      tiertrace chain faa6daa5-13fb-56a7-bbdc-76409bf19d60 --as noordhaven-naval --depth 2
      tiertrace chain faa6daa5-13fb-56a7-bbdc-76409bf19d60 --json | jq .coverage
    """
    with console_session() as session:
        viewer = require_viewer(session, as_slug)
        begin_snapshot(session)  # the view of one committed state, whatever the bus merges meanwhile
        try:
            view = chain_view(
                session, declaration_id, viewer, max_nodes=max_nodes, depth=depth, via=console_via()
            )
        except NotFoundError as exc:
            raise click.ClickException(
                f"no chain {declaration_id!r}: no such declaration, or {viewer.slug!r} may not see it"
            ) from exc
        # Keeps the audit-log entry of an authority read (and rollups computed on the way).
        session.commit()
    if as_json:
        click.echo(json.dumps(view, indent=2, allow_nan=False))  # out of range is null: strict JSON
        return
    click.echo(render_view(view, viewer_slug=viewer.slug if as_slug else None))


def render_view(view: Mapping[str, Any], *, viewer_slug: str | None = None) -> str:
    """The chain view as text: a header, the tree, the rollup table and the coverage."""
    nodes = view["nodes"]
    root = nodes[0]
    supplier = root["supplier"]
    lines = [
        f"Chain of {root['part_number']} — declared by {_supplier_text(supplier)}",
        f"declaration {view['root']}; viewed as {viewer_slug or 'the authority (operator console)'}",
    ]
    if view.get("superseded_by"):
        lines.append(f"SUPERSEDED by {view['superseded_by']}: these are the old version's contents")
    lines.append("")
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for node in nodes:
        children.setdefault(node["parent"], []).append(node)
    lines.append(_node_text(root))
    # Depth first for printing (the view lists breadth first); an explicit stack keeps deep chains safe.
    stack: list[tuple[Mapping[str, Any], str, bool]] = [
        (child, "", i == len(children.get(root["id"], [])) - 1)
        for i, child in reversed(list(enumerate(children.get(root["id"], []))))
    ]
    while stack:
        node, prefix, last = stack.pop()
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{_node_text(node)}")
        below = children.get(node["id"], [])
        deeper = prefix + ("   " if last else "│  ")
        stack.extend((child, deeper, i == len(below) - 1) for i, child in reversed(list(enumerate(below))))
    if view["truncated"]:
        lines.append(f"… truncated: {len(nodes)} nodes listed (see --depth and --max-nodes)")
    lines.append("")
    lines.extend(_rollup_table(view["rollup"], f"{root['part_number']} ({root['unit']})"))
    lines.append("")
    lines.extend(_coverage_text(view))
    return "\n".join(lines)


def _supplier_text(supplier: Mapping[str, Any] | None) -> str:
    if supplier is None:
        return "undisclosed supplier"
    name = supplier.get("name") or "unnamed"
    country = supplier.get("country") or "??"
    if supplier.get("slug") is None:
        return f"{name} ({country}, not on the portal)"
    return f"{supplier['slug']} ({name}, {country})"


def _node_text(node: Mapping[str, Any]) -> str:
    part = node["part_number"] if node["part_number"] is not None else "(part withheld)"
    # No unit for a gap or an undisclosed node: no declaration the viewer may see says it.
    unit = f" {node['unit']}" if node["unit"] is not None else ""
    head = f"[{node['tier']}] {part} ×{_number(node['quantity'])}{unit}"
    if node["kind"] == "gap":
        who = (
            ""
            if node["supplier"] is None and not node["undisclosed"]
            else f" · {_supplier_text(node['supplier'])}"
        )
        return f"{head} · GAP: {GAP_LABELS.get(node['gap'], node['gap'])}{who}"
    text = f"{head} · {_supplier_text(node['supplier'])}"
    materials = _top_materials(node["rollup"])
    return f"{text} · {materials}" if materials else text


def _top_materials(rollup: Mapping[str, Any], limit: int = 3) -> str:
    top = materials_by_mass(rollup)[:limit]
    parts = []
    for material, figures in top:
        if figures["mass_g"] is None:
            parts.append(f"{material} {OUT_OF_RANGE}")
            continue
        stages = "; ".join(
            f"{label} {_countries(figures[stage], figures['mass_g'], limit=2)}"
            for stage, label in (("extraction", "ext"), ("processing", "proc"))
        )
        parts.append(f"{material} {_number(figures['mass_g'])} g ({stages})")
    more = len(rollup) - len(top)
    return ", ".join(parts) + (f", +{more} more" if more > 0 else "")


def _countries(countries: Mapping[str, float], mass: float | None, *, limit: int) -> str:
    """The largest countries of a stage as shares of `mass`; none when `mass` is out of range."""
    if mass is None:
        return OUT_OF_RANGE
    if mass <= 0:
        return "-"
    named = sorted(((c, g) for c, g in countries.items() if c != UNKNOWN and g > 0), key=lambda i: -i[1])
    shown = [f"{country} {grams / mass:.0%}" for country, grams in named[:limit]]
    if countries.get(UNKNOWN, 0.0) > 0:
        shown.append(f"unknown {countries[UNKNOWN] / mass:.0%}")
    return ", ".join(shown) or "-"


def _rollup_table(rollup: Mapping[str, Any], part: str) -> list[str]:
    """The rollup as a table; `part` says which part, and its unit: "NNS-ZHK-001 (ship)"."""
    if not rollup:
        return [f"Rollup per unit of {part}: no material declared"]
    rows = [("material", "mass (g)", "recycled (g)", "extraction", "processing")]
    for material, figures in materials_by_mass(rollup):
        rows.append(
            (
                material,
                _number(figures["mass_g"]),
                _number(figures["recycled_g"]),
                _countries(figures["extraction"], figures["mass_g"], limit=3),
                _countries(figures["processing"], figures["mass_g"], limit=3),
            )
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = [f"Rollup per unit of {part}:"]
    for row in rows:
        lines.append(
            "  "
            + "  ".join(
                str(cell).rjust(widths[i]) if i in (1, 2) else str(cell).ljust(widths[i])
                for i, cell in enumerate(row)
            ).rstrip()
        )
    return lines


def _coverage_text(view: Mapping[str, Any]) -> list[str]:
    coverage = view["coverage"]
    total, declared = coverage["components_total"], coverage["components_declared"]
    # Rounded down: 11,110 of 11,111 must not read "100%".
    share = f" ({math.floor(declared / total * 1000) / 10:g}%)" if total else ""
    tier = coverage["max_tier"]
    lines = [f"Coverage: {declared:,} of {total:,} components declared{share}; deepest tier: {tier}"]
    for material, traced in sorted(coverage["traced"].items()):
        lines.append(
            f"  {material}: {_share(traced['extraction'])} of the mass traced to an extraction country, "
            f"{_share(traced['processing'])} to a processing country"
        )
    gaps: dict[str, int] = {}
    for node in view["nodes"]:
        if node["gap"]:
            gaps[node["gap"]] = gaps.get(node["gap"], 0) + 1
    if gaps:
        listed = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(gaps.items()))
        lines.append(f"  gaps{' among the nodes listed' if view['truncated'] else ''}: {listed}")
    return lines


def _number(value: float | None) -> str:
    """A mass in grams or a quantity to six significant figures (15,029,860; 0.84; 0.000125; from 1e15 on
    1e+300); "out of range" for None, a figure beyond the range of a number."""
    return OUT_OF_RANGE if value is None else significant(value, 6)


def _share(value: float | None) -> str:
    """A traced share as a percentage; "out of range" when it cannot be computed (None)."""
    return OUT_OF_RANGE if value is None else f"{value:.0%}"
