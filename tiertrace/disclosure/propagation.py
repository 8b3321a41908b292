"""Propagation: an accepted declaration's components become requests to the next tier up.

The propagate consumer calls `propagate_declaration` for every "declaration.accepted" event. For each
component that names a registered supplier and asks for disclosure it creates a *forwarded* request:
requester = the declaring organisation, supplier = the component's supplier, parent = the request the
declaration answers. When the supplier already has a current declaration of that part, the request is
created answered and linked to it instead: one answer serves every customer.

A component that re-enters the request path above (a cycle: A lists B, B lists A) is never asked again,
but it is still linked to its supplier's current declaration, so that the declaring organisation becomes
that declaration's customer just as it would without `in_response_to`. A linked request records no event
and forwards nothing, so a cycle cannot loop.

Nothing here imports the bus; "request.declined" needs no propagation (a decline ends its branch) and
is the merge consumer's business only. The consumer registry is `worker.handlers.CONSUMERS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Integer, Select, String, bindparam, insert, literal, select, union_all
from sqlalchemy.orm import Session

from tiertrace.audit.models import AuditLogEntry
from tiertrace.db import new_id
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.notifications import notify_new_requests
from tiertrace.errors import NotFoundError
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import lock_organizations
from tiertrace.outbox.services import record_events

#: Safety bound on walks up the request tree and the supersedes line (both are acyclic by construction).
MAX_DEPTH = 256

#: Audit actions for components that are not forwarded.
SELF_REFERENCE = "propagation.self_reference"
CYCLE = "propagation.cycle"


class PropagationSettings(Protocol):
    """The part of `tiertrace.config.Settings` propagation reads."""

    # Read-only members, so the frozen Settings dataclass satisfies the protocol.
    @property
    def tier_margin_days(self) -> int: ...
    @property
    def default_due_days(self) -> int: ...


@dataclass
class PropagationResult:
    """What one propagation did; ids of the requests it created, by kind."""

    declaration_id: str
    parent_id: str | None
    opened: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    #: Components whose request existed already (a redelivery, or a new version of the same part).
    existing: int = 0
    #: (position, supplier id, part number) of components that re-enter the path: never asked, only
    #: linked to the supplier's current declaration (in `linked` or `existing` then).
    cycles: list[tuple[int, int, str]] = field(default_factory=list)
    self_references: list[int] = field(default_factory=list)


def child_due_date(parent_due: date | None, *, today: date, settings: PropagationSettings) -> date:
    """When a forwarded request is due: `tier_margin_days` before its parent (due `parent_due`), never
    before today. A request without a parent (`parent_due` None) gets `default_due_days` from today.
    """
    if parent_due is None:
        return today + timedelta(days=settings.default_due_days)
    return max(today, parent_due - timedelta(days=settings.tier_margin_days))


@dataclass(frozen=True)
class _DeclarationFacts:
    id: str
    issuer_id: int
    part_number: str
    program: str | None
    in_response_to: str | None
    supersedes_id: str | None
    issuer_slug: str


# The statements are built once: building a select costs SQLAlchemy more Python than running it costs
# PostgreSQL, and propagation runs on every hop up the tiers. Core over the tables, no unit of work, and
# set-based: the declarations of a batch of messages share each round trip.
_declaration = Declaration.__table__
_component = DeclarationComponent.__table__
_organization = Organization.__table__
_request = DisclosureRequest.__table__

# One round trip: the declarations, their issuers and their components; columns, not entities, so the
# envelope and the payload (up to a megabyte each) stay in the database. None of these columns changes
# once a declaration is stored, so they are read without a lock.
_FACTS = (
    select(
        _declaration.c.id,
        _declaration.c.issuer_id,
        _declaration.c.part_number,
        _declaration.c.program,
        _declaration.c.in_response_to,
        _declaration.c.supersedes_id,
        _organization.c.slug,
        _component.c.position,
        _component.c.supplier_id,
        _component.c.part_number.label("component_part"),
        _component.c.request_disclosure,
    )
    .join(_organization, _organization.c.id == _declaration.c.issuer_id)
    .outerjoin(_component, _component.c.declaration_id == _declaration.c.id)
    .where(_declaration.c.id.in_(bindparam("declaration_ids", expanding=True)))
    .order_by(_declaration.c.id, _component.c.position)
)


def _answered_by_older_statement() -> Select[Any]:
    """For each version in "version_ids" ("start"): the request it names or, if it names none, the one
    the newest of the older versions it supersedes names; no row when none of them names one.

    One recursive query walks `supersedes_id` down from each version and stops at the first version that
    names a request.
    """
    older = (
        select(
            _declaration.c.id.label("start"),
            _declaration.c.in_response_to,
            _declaration.c.supersedes_id,
            literal(0).label("depth"),
        )
        .where(_declaration.c.id.in_(bindparam("version_ids", expanding=True)))
        .cte("older", recursive=True)
    )
    older = older.union_all(
        select(
            older.c.start, _declaration.c.in_response_to, _declaration.c.supersedes_id, older.c.depth + 1
        ).where(
            _declaration.c.id == older.c.supersedes_id,
            older.c.in_response_to.is_(None),
            older.c.depth < MAX_DEPTH - 1,
        )
    )
    return select(older.c.start, older.c.in_response_to).where(older.c.in_response_to.is_not(None))


_ANSWERED_BY_OLDER = _answered_by_older_statement()


def _path_statement() -> Select[Any]:
    """Each parent request and every request above it, with the declaration whose component made it.

    One recursive query walks `parent_id` up from each of the parents; each request contributes its
    (supplier, part), and the declaration whose component created it contributes (issuer, part), which
    covers the top of the path. `start` tells which parent a row's path belongs to.
    """
    columns = (
        _request.c.id,
        _request.c.parent_id,
        _request.c.supplier_id,
        _request.c.part_number,
        _request.c.source_declaration_id,
        _request.c.due_date,
        _request.c.program,
    )
    path = (
        select(*columns, _request.c.id.label("start"), literal(0).label("depth"))
        .where(_request.c.id.in_(bindparam("parent_ids", expanding=True)))
        .cte("path", recursive=True)
    )
    path = path.union_all(
        select(*columns, path.c.start, (path.c.depth + 1).label("depth")).where(
            _request.c.id == path.c.parent_id, path.c.depth < MAX_DEPTH
        )
    )
    source = _declaration.alias("source")
    return select(
        path.c.start,
        path.c.depth,
        path.c.supplier_id,
        path.c.part_number,
        path.c.due_date,
        path.c.program,
        source.c.issuer_id,
        source.c.part_number,
    ).outerjoin(source, source.c.id == path.c.source_declaration_id)


_PATH = _path_statement()

# The requests that may exist already, and the suppliers' current declarations, in one round trip.
# Filtered on each column separately (a superset of the keys, narrowed in Python): a tuple IN costs
# SQLAlchemy more to coerce than the query costs to run.
_KNOWN = union_all(
    select(
        literal("existing").label("kind"),
        _request.c.requester_id,
        _request.c.supplier_id,
        _request.c.part_number,
        _request.c.parent_id,
        _request.c.id,
    ).where(
        _request.c.requester_id.in_(bindparam("issuer_ids", expanding=True)),
        _request.c.supplier_id.in_(bindparam("supplier_ids", expanding=True)),
        _request.c.part_number.in_(bindparam("parts", expanding=True)),
    ),
    select(
        literal("current").label("kind"),
        literal(None, Integer).label("requester_id"),
        _declaration.c.issuer_id,
        _declaration.c.part_number,
        literal(None, String).label("parent_id"),
        _declaration.c.id,
    ).where(
        _declaration.c.is_current,
        _declaration.c.issuer_id.in_(bindparam("supplier_ids", expanding=True)),
        _declaration.c.part_number.in_(bindparam("parts", expanding=True)),
    ),
)
_INSERT_REQUESTS = insert(DisclosureRequest)


def answered_request_id(session: Session, declaration: Declaration | _DeclarationFacts) -> str | None:
    """The request a declaration answers: its own `in_response_to`, else that of a version it supersedes.

    A new version that names no request still answers what the old one answered (submit repointed those
    requests), so its components hang under the same parent as the old version's did.
    """
    return _answered_request_ids(session, [declaration])[declaration.id]


def _answered_request_ids(
    session: Session, declarations: Sequence[Declaration | _DeclarationFacts]
) -> dict[str, str | None]:
    """`answered_request_id` of each of `declarations`, by id: one query for all of those that name
    no request but supersede a version (none when no declaration does)."""
    older = {d.supersedes_id for d in declarations if d.in_response_to is None and d.supersedes_id}
    #: Superseded version -> the request it, or an older version, answers.
    answered: dict[str | None, str] = {}
    if older:
        rows = session.connection().execute(_ANSWERED_BY_OLDER, {"version_ids": sorted(older)})
        answered = {start: in_response_to for start, in_response_to in rows}
    return {d.id: d.in_response_to or answered.get(d.supersedes_id) for d in declarations}


@dataclass(frozen=True)
class _Parent:
    due_date: date
    program: str | None
    #: Every (organisation, part) on the path from the root down to this request.
    above: frozenset[tuple[int, str]]


def _parents(session: Session, parent_ids: set[str]) -> dict[str, _Parent]:
    """Each of `parent_ids` with its due date, program and path. Raises NotFoundError for an unknown one."""
    if not parent_ids:
        return {}
    facts: dict[str, tuple[date, str | None]] = {}
    above: dict[str, set[tuple[int, str]]] = {parent_id: set() for parent_id in parent_ids}
    rows = session.connection().execute(_PATH, {"parent_ids": sorted(parent_ids)})
    for start, depth, supplier_id, part, due_date, program, source_issuer_id, source_part in rows:
        if depth == 0:
            facts[start] = (due_date, program)
        above[start].add((supplier_id, part))
        if source_issuer_id is not None:
            above[start].add((source_issuer_id, source_part))
    missing = parent_ids - facts.keys()
    if missing:
        raise NotFoundError(f"request {min(missing)} does not exist")
    return {key: _Parent(*facts[key], frozenset(above[key])) for key in parent_ids}


def propagate_declaration(
    session: Session, declaration_id: str, *, now: datetime, settings: PropagationSettings
) -> PropagationResult:
    """Forward an accepted declaration's components to their suppliers as child requests.

    Idempotent: a request with the same requester, supplier, part and parent is never created twice, so
    a redelivered event, or a new version listing the same components, adds nothing. A component naming
    the issuer itself is not forwarded (an in-house part has its own declaration; with the same part
    number it is a self-reference); a component that re-enters the path above is a cycle, never asked
    but linked to its supplier's current declaration if there is one: both are recorded in the audit
    log. Every opened request records "request.created" and a notification for its supplier. Writes with
    Core statements (the session's unit of work holds none of these rows); never commits. Raises
    NotFoundError for an unknown declaration.

    Superseded versions propagate too: their forwarded requests stay, and the result does not depend
    on whether the event is handled before or after a newer version arrived.
    """
    return propagate_declarations(session, [declaration_id], now=now, settings=settings)[0]


def propagate_declarations(
    session: Session, declaration_ids: Sequence[str], *, now: datetime, settings: PropagationSettings
) -> list[PropagationResult]:
    """`propagate_declaration` for several declarations at once, with the round trips of one.

    The results come in the order of `declaration_ids`; the same as propagating them one after the
    other in that order (a key two of them forward is created by the first, and counts as existing for
    the second). Raises NotFoundError if any declaration is unknown, having changed nothing.
    """
    connection = session.connection()
    rows = connection.execute(_FACTS, {"declaration_ids": sorted(set(declaration_ids))}).all()
    declarations: dict[str, _DeclarationFacts] = {}
    components: dict[str, list[Any]] = {}
    for row in rows:
        if row.id not in declarations:
            declarations[row.id] = _DeclarationFacts(*row[:7])
            components[row.id] = []
        if row.position is not None:
            components[row.id].append(row)
    missing = [declaration_id for declaration_id in declaration_ids if declaration_id not in declarations]
    if missing:
        raise NotFoundError(f"declaration {missing[0]} does not exist")
    involved = {d.issuer_id for d in declarations.values()}
    involved.update(c.supplier_id for rows in components.values() for c in rows if c.supplier_id is not None)
    # Then the declaring organisations and the components' suppliers are locked: the existence checks and
    # the inserts below cannot interleave with another worker propagating a version of the same part, nor
    # with a supplier filing (or superseding) the declaration a new request would link to, which answers
    # only the requests it sees (check-then-insert under READ COMMITTED is otherwise a race).
    lock_organizations(connection, involved)

    answered = _answered_request_ids(session, list(declarations.values()))
    results: list[PropagationResult] = []
    #: Per result: (supplier, part) -> first position, of the components to forward.
    wanted: list[dict[tuple[int, str], int]] = []
    #: Per result: the keys of `wanted` that re-enter the path above: linked if they can be, never opened.
    cut: list[set[tuple[int, str]]] = []
    for declaration_id in declaration_ids:
        declaration = declarations[declaration_id]
        result = PropagationResult(declaration.id, answered[declaration.id])
        forward: dict[tuple[int, str], int] = {}
        for component in components[declaration_id]:
            if component.supplier_id is None or not component.request_disclosure:
                continue
            if component.supplier_id == declaration.issuer_id:
                # Nobody sends a request to itself: an in-house part has its own declaration.
                if component.component_part == declaration.part_number:
                    result.self_references.append(component.position)
                continue
            forward.setdefault((component.supplier_id, component.component_part), component.position)
        results.append(result)
        wanted.append(forward)

    parents = _parents(
        session, {r.parent_id for r, forward in zip(results, wanted, strict=True) if r.parent_id and forward}
    )
    for result, forward in zip(results, wanted, strict=True):
        parent = parents.get(result.parent_id) if result.parent_id else None
        cycles: set[tuple[int, str]] = set()
        if parent is not None:
            declaration = declarations[result.declaration_id]
            above = parent.above | {(declaration.issuer_id, declaration.part_number)}
            cycles = {key for key in forward if key in above}
            result.cycles.extend((position, *key) for key, position in forward.items() if key in cycles)
        cut.append(cycles)
        if result.self_references or result.cycles:
            _record_not_forwarded(session, declarations[result.declaration_id], result, now=now)
    if not any(wanted):
        return results

    # (requester, supplier, part, parent) of the requests that exist; the current declarations.
    existing: set[tuple[int, int, str, str | None]] = set()
    current: dict[tuple[int, str], str] = {}
    known = connection.execute(
        _KNOWN,
        {
            "issuer_ids": sorted({declarations[r.declaration_id].issuer_id for r in results}),
            "supplier_ids": sorted({supplier for forward in wanted for supplier, _ in forward}),
            "parts": sorted({part for forward in wanted for _, part in forward}),
        },
    )
    for kind, requester_id, organization_id, part, parent_id, row_id in known:
        if kind == "existing":
            existing.add((requester_id, organization_id, part, parent_id))
        else:
            current[(organization_id, part)] = row_id

    created: list[dict[str, Any]] = []
    for result, forward, cycles in zip(results, wanted, cut, strict=True):
        declaration = declarations[result.declaration_id]
        parent = parents.get(result.parent_id) if result.parent_id else None
        due = child_due_date(parent.due_date if parent else None, today=now.date(), settings=settings)
        program = (parent.program if parent else None) or declaration.program
        for supplier_id, part in forward:
            request_key = (declaration.issuer_id, supplier_id, part, result.parent_id)
            if request_key in existing:
                result.existing += 1
                continue
            answer = current.get((supplier_id, part))
            if answer is None and (supplier_id, part) in cycles:
                continue  # a cycle is never asked: with no declaration to link, it ends here
            existing.add(request_key)  # a later declaration of this batch finds it
            request: dict[str, Any] = {
                "id": new_id(),
                "requester_id": declaration.issuer_id,
                "supplier_id": supplier_id,
                "part_number": part,
                "program": program,
                "status": "answered" if answer else "open",
                "due_date": due,
                "parent_id": result.parent_id,
                "declaration_id": answer,
                "source_declaration_id": declaration.id,
                "created_at": now,
                "answered_at": now if answer else None,
            }
            created.append(request)
            (result.linked if answer else result.opened).append(request["id"])
    if not created:
        return results
    # Requests first: the events and notifications reference them.
    connection.execute(_INSERT_REQUESTS, created)
    opened = [request for request in created if request["declaration_id"] is None]
    record_events(session, "request.created", [{"request_id": request["id"]} for request in opened])
    # The notify consumer queues the webhook POST when it handles "request.created".
    slugs = {d.issuer_id: d.issuer_slug for d in declarations.values()}
    notify_new_requests(session, opened, requester_slugs=slugs, now=now)
    return results


def _record_not_forwarded(
    session: Session, declaration: _DeclarationFacts, result: PropagationResult, *, now: datetime
) -> None:
    """Write one audit entry per component that was not forwarded, unless a redelivery wrote it already."""
    entries: list[tuple[str, int, dict[str, object]]] = []
    for position in result.self_references:
        entries.append((SELF_REFERENCE, position, {"part_number": declaration.part_number}))
    for position, supplier_id, part_number in result.cycles:
        entries.append(
            (
                CYCLE,
                position,
                {"supplier_id": supplier_id, "part_number": part_number, "parent_id": result.parent_id},
            )
        )
    recorded = {
        (action, details.get("position"))
        for action, details in session.execute(
            select(AuditLogEntry.action, AuditLogEntry.details).where(
                AuditLogEntry.subject == declaration.id, AuditLogEntry.action.in_((SELF_REFERENCE, CYCLE))
            )
        )
    }
    for action, position, details in entries:
        if (action, position) in recorded:
            continue
        session.add(
            AuditLogEntry(
                organization_id=declaration.issuer_id,
                action=action,
                subject=declaration.id,
                details={"position": position, **details},
                created_at=now,
            )
        )
