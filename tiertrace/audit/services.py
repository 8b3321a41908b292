"""The ministry's audit: a programme's completeness and risk report, the observatory, the programme list.

The figures come from the materialised rollups and the authority's chain view (tiertrace.chains); this
module only gathers plain values from the database and hands them to `tiertrace.audit.rules`. Every
read is audit-logged. Nothing here commits: the entrypoint owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tiertrace.audit import rules
from tiertrace.audit.models import AuditLogEntry
from tiertrace.chains.models import Rollup
from tiertrace.chains.services import chain_tree, require_rollup, resolved_children, stored_rollup_data
from tiertrace.db import chunks, utcnow
from tiertrace.declarations.models import Declaration
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.errors import ForbiddenError, NotFoundError
from tiertrace.organizations.models import Organization
from tiertrace.reference import countries, materials

#: Where the reference figures come from (crm-reference.csv's source keys), for the data vintage.
REFERENCE_VINTAGE = {
    "supply_risk": "EU CRM study 2023 (EC-CRM-2023), SR and EI scores",
    "strategic_critical": "Regulation (EU) 2024/1252 (CRMA) Annexes I and II",
    "export_controls": "Chinese export-control announcements as recorded in crm-reference.csv "
    "(CN-MOFCOM-2023-2025); re-verify before use",
    "benchmark": "CRMA Art. 5(1)(b): no single third country above 65 % at a stage",
}
#: Audit-log actions.
REPORT_READ = "audit.report.read"
OBSERVATORY_READ = "audit.observatory.read"

Progress = Callable[[str], None]


def console_viewer() -> Organization:
    """The authority view for operator tools without a token (the CLI); not stored, its id is None.

    Audit-log entries written for it have no organisation; the caller says who ran it in `via`.
    """
    return Organization(slug="console", name="tiertrace console", country="NL", kind="authority")


def _require_authority(viewer: Organization) -> None:
    if viewer.kind != "authority":
        raise ForbiddenError("the audit is for authority organisations")


def build_report(
    session: Session,
    program: str,
    viewer: Organization,
    *,
    now: datetime | None = None,
    via: str = "api",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The completeness and risk report of a programme, as a JSON-ready dict.

    A programme is the set of current top-level declarations carrying `program` (a declaration that
    carries it but sits under another one of them is not a root). Keys: `program`, `generated_at`,
    `roots`, `summary` (the five largest risks as sentences), `completeness`, `risk`, `gaps` (see
    `tiertrace.audit.rules.report_figures`) and `vintage` (the declaration versions the figures use and
    the reference data). Unfolds each root's tree as the authority sees it (`chain_tree`); where the
    roots' figures are out of range, walks down to the declarations where that starts (named in the
    risks). Flushes one AuditLogEntry (`REPORT_READ`, with `via`); Rollup rows still missing are
    computed, not stored. `progress` is called with short messages as the work goes on. Raises
    ForbiddenError when the viewer is not the authority, NotFoundError for a programme no current
    declaration carries.
    """
    _require_authority(viewer)
    now = now or utcnow()
    say = progress or (lambda _message: None)
    candidates = list(
        session.scalars(
            select(Declaration.id)
            .where(Declaration.program == program, Declaration.is_current)
            .order_by(Declaration.accepted_at, Declaration.id)
        )
    )
    if not candidates:
        raise NotFoundError("no such programme", details={"program": program})
    views: dict[str, dict[str, Any]] = {}
    for number, declaration_id in enumerate(candidates, start=1):
        views[declaration_id] = view = chain_tree(session, declaration_id)
        say(f"declaration {number}/{len(candidates)} of the programme unfolded: {len(view['nodes']):,} nodes")
    descendants = {
        c: {n["declaration_id"] for n in view["nodes"][1:] if n["declaration_id"]}
        for c, view in views.items()
    }
    roots = rules.top_level(candidates, descendants)
    root_views = [views[r] for r in roots]
    rollups = [require_rollup(session, r) for r in roots]
    requests = _requests_for_lines(session, root_views)
    say(f"{len(requests):,} requests for the programme's component lines")
    origins = _overflow_origins(session, dict(zip(roots, rollups, strict=True)))
    figures = rules.report_figures(
        root_views, rollups, requests, reference=materials(), names=countries(), origins=origins
    )
    report = {
        "program": program,
        "generated_at": now.isoformat(),
        "roots": roots,
        "summary": figures["summary"],
        "completeness": figures["completeness"],
        "risk": figures["risk"],
        "gaps": figures["gaps"],
        "vintage": _vintage(session, root_views, roots),
    }
    session.add(
        AuditLogEntry(
            organization_id=viewer.id,
            action=REPORT_READ,
            subject=program[:200],
            details={
                "viewer": viewer.slug,
                "via": via,
                "roots": roots,
                "generated_at": report["generated_at"],
            },
            created_at=now,
        )
    )
    session.flush()
    say("report built")
    return report


def _overflow_origins(session: Session, roots: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The declarations below `roots` (id -> rollup data) where figures out of range start
    (`rules.overflow_start`), each with its part number, issuer and the materials concerned.

    Walks the declaration graph down from the roots with figures out of range through the children that
    have some too (every declaration above an overflow has it), each declaration once: nothing at all
    for a programme whose figures are all in range.
    """
    data = {i: d for i, d in roots.items() if rules.out_of_range_figures(d["rollup"])}
    frontier, seen = set(data), set(data)
    started: dict[str, list[str]] = {}
    while frontier:
        children = {
            i: [c["declaration_id"] for c in data[i]["children"] if c["declaration_id"]] for i in frontier
        }
        data.update(_rollup_data(session, {c for cs in children.values() for c in cs} - data.keys()))
        for declaration_id, child_ids in children.items():
            codes = rules.overflow_start(
                data[declaration_id]["rollup"], (data[c]["rollup"] for c in child_ids)
            )
            if codes:
                started[declaration_id] = codes
        frontier = {
            c for cs in children.values() for c in cs if rules.out_of_range_figures(data[c]["rollup"])
        } - seen
        seen |= frontier
    if not started:
        return []
    issuers = {
        org_id: {"slug": slug, "name": name, "country": country}
        for org_id, slug, name, country in session.execute(
            select(Organization.id, Organization.slug, Organization.name, Organization.country).where(
                Organization.id.in_(sorted({data[i]["issuer_id"] for i in started}))
            )
        )
    }
    return [
        {
            "declaration_id": declaration_id,
            "part_number": data[declaration_id]["part_number"],
            "issuer": issuers[data[declaration_id]["issuer_id"]],
            "materials": codes,
        }
        for declaration_id, codes in sorted(started.items(), key=lambda i: (data[i[0]]["part_number"], i[0]))
    ]


def _requests_for_lines(session: Session, views: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every request from a component line's lister to its supplier about its part, as plain dicts."""
    keys = {
        key for _, _, node, parent in rules.iter_nodes(list(views)) if (key := rules.edge_key(node, parent))
    }
    slugs = {slug for key in keys for slug in key[:2]}
    ids = _organization_ids(session, slugs)
    triples = {(ids[a], ids[b], part) for a, b, part in keys if a in ids and b in ids}
    slug_of = {org_id: slug for slug, org_id in ids.items()}
    columns = [getattr(DisclosureRequest, name) for name in _REQUEST_COLUMNS]
    requesters = sorted({t[0] for t in triples})
    suppliers = sorted({t[1] for t in triples})
    found: list[dict[str, Any]] = []
    # Select by organisations and match the part numbers here: a (requester, supplier, part) IN list of
    # thousands of tuples costs more to compile than the rows it saves. Plain columns, not entities:
    # the model eager-joins both organisations.
    for requester_chunk in chunks(requesters):
        for supplier_chunk in chunks(suppliers):
            for row in session.execute(
                select(*columns).where(
                    DisclosureRequest.requester_id.in_(requester_chunk),
                    DisclosureRequest.supplier_id.in_(supplier_chunk),
                )
            ):
                record = dict(zip(_REQUEST_COLUMNS, row, strict=True))
                if (record["requester_id"], record["supplier_id"], record["part_number"]) in triples:
                    found.append(request_record(record, slug_of))
    return found


_REQUEST_COLUMNS = (
    "id",
    "requester_id",
    "supplier_id",
    "part_number",
    "program",
    "status",
    "due_date",
    "created_at",
    "answered_at",
    "overdue_at",
    "reminded_at",
    "escalated_at",
    "decline_reason",
    "parent_id",
    "declaration_id",
)


def request_record(request: Mapping[str, Any], slug_of: Mapping[int, str]) -> dict[str, Any]:
    """A request (its columns by name) as the report shows it: organisations by slug, dates as ISO text."""
    return {
        "id": request["id"],
        "requester": slug_of[request["requester_id"]],
        "supplier": slug_of[request["supplier_id"]],
        "part_number": request["part_number"],
        "program": request["program"],
        "status": request["status"],
        "due_date": _iso(request["due_date"]),
        "created_at": _iso(request["created_at"]),
        "answered_at": _iso(request["answered_at"]),
        "overdue_at": _iso(request["overdue_at"]),
        "reminded_at": _iso(request["reminded_at"]),
        "escalated_at": _iso(request["escalated_at"]),
        "decline_reason": request["decline_reason"],
        "parent_id": request["parent_id"],
        "declaration_id": request["declaration_id"],
    }


def _vintage(session: Session, views: Iterable[Mapping[str, Any]], roots: list[str]) -> dict[str, Any]:
    """Which declaration versions the figures use, when the roots' rollups were computed, the reference."""
    ids = {n["declaration_id"] for view in views for n in view["nodes"] if n["declaration_id"]}
    declarations: list[dict[str, Any]] = []
    for chunk in chunks(sorted(ids)):
        for row in session.execute(
            select(
                Declaration.id,
                Organization.slug,
                Declaration.part_number,
                Declaration.issued_at,
                Declaration.accepted_at,
                Declaration.supersedes_id,
            )
            .join(Organization, Organization.id == Declaration.issuer_id)
            .where(Declaration.id.in_(chunk))
        ):
            declarations.append(
                {
                    "id": row.id,
                    "issuer": row.slug,
                    "part_number": row.part_number,
                    "issued_at": _iso(row.issued_at),
                    "accepted_at": _iso(row.accepted_at),
                    "supersedes": row.supersedes_id,
                }
            )
    declarations.sort(key=lambda d: (d["issued_at"], d["id"]))
    computed = list(session.scalars(select(Rollup.computed_at).where(Rollup.declaration_id.in_(roots))))
    return {
        "declarations": declarations,
        "issued_from": declarations[0]["issued_at"] if declarations else None,
        "issued_to": declarations[-1]["issued_at"] if declarations else None,
        "rollups_computed_at": _iso(max(computed)) if computed else None,
        "reference": REFERENCE_VINTAGE,
    }


# --- across programmes -----------------------------------------------------------------------------------


def observatory(
    session: Session, viewer: Organization, *, via: str = "api", now: datetime | None = None
) -> dict[str, Any]:
    """The cross-programme aggregate per material and country, with no supplier identity at all.

    Sums the roots' rollups of every programme (one unit of each root) and reports per material its
    mass, programme count, reference flags and, per stage, country shares, HHI, top country and the CRMA
    flag, plus each country's dependence across materials. No slugs, names, facilities, declaration ids
    or programme names. Flushes one AuditLogEntry (`OBSERVATORY_READ`, with `via`: how it was read, as
    for reports). Raises ForbiddenError when the viewer is not the authority.
    """
    _require_authority(viewer)
    now = now or utcnow()
    roots, data = _programme_roots(session)
    figures = rules.observatory_figures(
        {program: [data[r]["rollup"] for r in ids] for program, ids in roots.items()},
        reference=materials(),
        names=countries(),
    )
    session.add(
        AuditLogEntry(
            organization_id=viewer.id,
            action=OBSERVATORY_READ,
            subject="observatory",
            details={"viewer": viewer.slug, "programmes": len(roots), "via": via},
            created_at=now,
        )
    )
    session.flush()
    return {"generated_at": now.isoformat(), **figures}


def list_programs(session: Session, viewer: Organization) -> list[dict[str, Any]]:
    """Every programme with its completeness at a glance, by name (for the ministry's overview page).

    Per programme: `program`, `roots`, `components_total`, `components_declared`, `share_declared`,
    `max_tier` and gap counts by kind (in `GAP_KINDS` order, like the report), from the roots' materialised
    rollups. Not audit-logged (no supplier identity in it). Raises ForbiddenError for a non-authority.
    """
    _require_authority(viewer)
    roots, data = _programme_roots(session)
    listed = []
    for program in sorted(roots):
        coverage = [data[r]["coverage"] for r in roots[program]]
        total = sum(c["components_total"] for c in coverage)
        declared = sum(c["components_declared"] for c in coverage)
        listed.append(
            {
                "program": program,
                "roots": roots[program],
                "components_total": total,
                "components_declared": declared,
                "share_declared": rules.share(declared, total),
                "max_tier": max((c["max_tier"] for c in coverage), default=0),
                "gaps": rules.gap_counts(coverage),
            }
        )
    return listed


def _programme_roots(session: Session) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Each programme's roots, and the rollup data of those roots.

    Walks the declaration graph (not the unfolded tree) through the rollups' resolved children, each
    declaration once, to find which programme declarations sit under another one (`rules.top_level`).
    """
    by_program: dict[str, list[str]] = {}
    for declaration_id, program in session.execute(
        select(Declaration.id, Declaration.program)
        .where(Declaration.program.is_not(None), Declaration.is_current)
        .order_by(Declaration.accepted_at, Declaration.id)
    ):
        by_program.setdefault(str(program), []).append(declaration_id)
    children: dict[str, list[str]] = {}
    frontier = {c for candidates in by_program.values() for c in candidates}
    while frontier:
        loaded = resolved_children(session, frontier)
        children.update(
            {i: [c["declaration_id"] for c in cs if c["declaration_id"]] for i, cs in loaded.items()}
        )
        frontier = {target for targets in children.values() for target in targets} - children.keys()
    roots: dict[str, list[str]] = {}
    for program, candidates in by_program.items():
        descendants = {c: _reachable(c, children) for c in candidates}
        roots[program] = rules.top_level(candidates, descendants)
    return roots, _rollup_data(session, {r for ids in roots.values() for r in ids})


def _reachable(start: str, children: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(children.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(children.get(node, ()))
    return seen


def _rollup_data(session: Session, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """Stored rollup data of `ids`, computing (not storing) rows that are missing or of an old format."""
    found = stored_rollup_data(session, ids)
    for declaration_id in set(ids) - found.keys():
        # Only while a merge event is still on its way: compute now rather than leave a hole.
        found[declaration_id] = require_rollup(session, declaration_id)
    return found


def _organization_ids(session: Session, slugs: Collection[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunks(slugs):
        rows = session.execute(select(Organization.slug, Organization.id).where(Organization.slug.in_(chunk)))
        ids.update((slug, org_id) for slug, org_id in rows)
    return ids


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
