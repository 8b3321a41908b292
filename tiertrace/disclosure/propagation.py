"""Propagation: an accepted declaration's components become requests to the next tier up.

The propagate consumer calls `propagate_declaration` for every "declaration.accepted" event. For each
component that names a registered supplier and asks for disclosure it creates a *forwarded* request:
requester = the declaring organisation, supplier = the component's supplier, parent = the request the
declaration answers. When the supplier already has a current declaration of that part, the request is
created answered and linked to it instead: one answer serves every customer.

Nothing here imports the bus; "request.declined" needs no propagation (a decline ends its branch) and
is the merge consumer's business only. The consumer registry is `worker.handlers.CONSUMERS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import literal, select, union_all
from sqlalchemy.orm import Session, aliased

from tiertrace.audit.models import AuditLogEntry
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.notifications import notify_request
from tiertrace.errors import NotFoundError
from tiertrace.organizations.models import Organization
from tiertrace.outbox.services import record_event

#: Safety bound on walks up the request tree and the supersedes line (both are acyclic by construction).
MAX_DEPTH = 256

#: Audit actions for components that are not forwarded.
SELF_REFERENCE = "propagation.self_reference"
CYCLE = "propagation.cycle"


class PropagationSettings(Protocol):
    """The part of `tiertrace.config.Settings` propagation reads."""

    tier_margin_days: int
    default_due_days: int


@dataclass
class PropagationResult:
    """What one propagation did; ids of the requests it created, by kind."""

    declaration_id: str
    parent_id: str | None
    opened: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    #: Components whose request existed already (a redelivery, or a new version of the same part).
    existing: int = 0
    #: (position, supplier id, part number) of components not forwarded because they re-enter the path.
    cycles: list[tuple[int, int, str]] = field(default_factory=list)
    self_references: list[int] = field(default_factory=list)


def child_due_date(parent_due: date | None, *, today: date, settings: PropagationSettings) -> date:
    """When a forwarded request is due: `tier_margin_days` before its parent, never before today.

    A request without a parent, or whose parent has no due date, gets `default_due_days` from today.
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


@dataclass(frozen=True)
class _ComponentFacts:
    position: int
    supplier_id: int | None
    part_number: str
    request_disclosure: bool


def answered_request_id(session: Session, declaration: Declaration | _DeclarationFacts) -> str | None:
    """The request a declaration answers: its own `in_response_to`, else that of a version it supersedes.

    A new version that names no request still answers what the old one answered (submit repointed those
    requests), so its components hang under the same parent as the old version's did.
    """
    if declaration.in_response_to is not None:
        return declaration.in_response_to
    older = declaration.supersedes_id
    for _ in range(MAX_DEPTH):
        if older is None:
            return None
        row = session.execute(
            select(Declaration.in_response_to, Declaration.supersedes_id).where(Declaration.id == older)
        ).one()
        if row.in_response_to is not None:
            return str(row.in_response_to)
        older = row.supersedes_id
    return None


@dataclass(frozen=True)
class _Parent:
    due_date: date | None
    program: str | None


def _path_above(session: Session, parent_id: str) -> tuple[_Parent, set[tuple[int, str]]]:
    """The parent request, and every (organisation, part) on the path from the root down to it.

    One recursive query walks `parent_id` up; each request contributes its (supplier, part), and the
    declaration whose component created it contributes (issuer, part), which covers the top of the path.
    """
    request = DisclosureRequest.__table__
    columns = (
        request.c.id,
        request.c.parent_id,
        request.c.supplier_id,
        request.c.part_number,
        request.c.source_declaration_id,
        request.c.due_date,
        request.c.program,
    )
    path = (
        select(*columns, literal(0).label("depth"))
        .where(request.c.id == parent_id)
        .cte("path", recursive=True)
    )
    path = path.union_all(
        select(*columns, (path.c.depth + 1).label("depth")).where(
            request.c.id == path.c.parent_id, path.c.depth < MAX_DEPTH
        )
    )
    source = aliased(Declaration)
    rows = session.execute(
        select(
            path.c.depth,
            path.c.supplier_id,
            path.c.part_number,
            path.c.due_date,
            path.c.program,
            source.issuer_id,
            source.part_number,
        ).outerjoin(source, source.id == path.c.source_declaration_id)
    ).all()
    parent: _Parent | None = None
    seen: set[tuple[int, str]] = set()
    for depth, supplier_id, part_number, due_date, program, source_issuer_id, source_part in rows:
        if depth == 0:
            parent = _Parent(due_date, program)
        seen.add((supplier_id, part_number))
        if source_issuer_id is not None:
            seen.add((source_issuer_id, source_part))
    if parent is None:
        raise NotFoundError(f"request {parent_id} does not exist")
    return parent, seen


def propagate_declaration(
    session: Session, declaration_id: str, *, now: datetime, settings: PropagationSettings
) -> PropagationResult:
    """Forward an accepted declaration's components to their suppliers as child requests.

    Idempotent: a request with the same requester, supplier, part and parent is never created twice, so
    a redelivered event, or a new version listing the same components, adds nothing. A component naming
    the issuer itself is not forwarded (an in-house part has its own declaration; with the same part
    number it is a self-reference); a component that re-enters the path above is a cycle: both are
    recorded in the audit log. Every opened request records "request.created" and a notification for
    its supplier. Flushes; never commits. Raises NotFoundError for an unknown declaration.

    Superseded versions propagate too: their forwarded requests stay, and the result does not depend
    on whether the event is handled before or after a newer version arrived.
    """
    # Serialise propagation per declaring organisation, so the existence check below and the insert
    # cannot interleave with another worker propagating a version of the same part (check-then-insert
    # under READ COMMITTED is otherwise a race). FOR NO KEY UPDATE, not FOR UPDATE: the latter would
    # also block every insert of a row that references the organisation (foreign keys take KEY SHARE).
    # SQLite ignores the clause; its BEGIN IMMEDIATE serialises writers anyway.
    # One round trip: the declaration, its issuer (locked) and its components; columns, not entities, so
    # the envelope and the payload (up to a megabyte each) stay in the database.
    rows = session.execute(
        select(
            Declaration.id,
            Declaration.issuer_id,
            Declaration.part_number,
            Declaration.program,
            Declaration.in_response_to,
            Declaration.supersedes_id,
            Organization.slug,
            DeclarationComponent.position,
            DeclarationComponent.supplier_id,
            DeclarationComponent.part_number.label("component_part"),
            DeclarationComponent.request_disclosure,
        )
        .join(Organization, Organization.id == Declaration.issuer_id)
        .outerjoin(DeclarationComponent, DeclarationComponent.declaration_id == Declaration.id)
        .where(Declaration.id == declaration_id)
        .order_by(DeclarationComponent.position)
        .with_for_update(of=Organization, key_share=True)
    ).all()
    if not rows:
        raise NotFoundError(f"declaration {declaration_id} does not exist")
    declaration = _DeclarationFacts(*rows[0][:7])
    components = [
        _ComponentFacts(row.position, row.supplier_id, row.component_part, row.request_disclosure)
        for row in rows
        if row.position is not None
    ]

    parent_id = answered_request_id(session, declaration)
    result = PropagationResult(declaration_id=declaration.id, parent_id=parent_id)

    wanted: dict[tuple[int, str], int] = {}  # (supplier, part) -> first position
    for component in components:
        if component.supplier_id is None or not component.request_disclosure:
            continue
        if component.supplier_id == declaration.issuer_id:
            # Nobody sends a request to itself: an in-house part has its own declaration.
            if component.part_number == declaration.part_number:
                result.self_references.append(component.position)
            continue
        wanted.setdefault((component.supplier_id, component.part_number), component.position)

    parent: _Parent | None = None
    if parent_id is not None and wanted:
        parent, above = _path_above(session, parent_id)
        above.add((declaration.issuer_id, declaration.part_number))
        for key in [k for k in wanted if k in above]:
            result.cycles.append((wanted.pop(key), key[0], key[1]))

    if result.self_references or result.cycles:
        _record_not_forwarded(session, declaration, result, now=now)
    if not wanted:
        return result

    # One round trip for both: the requests that exist already, and the suppliers' current declarations.
    # Filtered on suppliers and parts separately (a superset of the pairs, narrowed below): a tuple IN
    # costs SQLAlchemy a millisecond per statement to coerce, more than the query itself.
    suppliers = {supplier for supplier, _ in wanted}
    parts = {part for _, part in wanted}
    same_parent = (
        DisclosureRequest.parent_id.is_(None)
        if parent_id is None
        else DisclosureRequest.parent_id == parent_id
    )
    existing_requests = select(
        literal("existing").label("kind"),
        DisclosureRequest.supplier_id.label("organization_id"),
        DisclosureRequest.part_number.label("part_number"),
        DisclosureRequest.id.label("id"),
    ).where(
        DisclosureRequest.requester_id == declaration.issuer_id,
        DisclosureRequest.supplier_id.in_(suppliers),
        DisclosureRequest.part_number.in_(parts),
        same_parent,
    )
    current_declarations = select(
        literal("current").label("kind"), Declaration.issuer_id, Declaration.part_number, Declaration.id
    ).where(
        Declaration.is_current.is_(True),
        Declaration.issuer_id.in_(suppliers),
        Declaration.part_number.in_(parts),
    )
    existing: set[tuple[int, str]] = set()
    current: dict[tuple[int, str], str] = {}
    for kind, organization_id, part_number, row_id in session.execute(
        union_all(existing_requests, current_declarations)
    ):
        if kind == "existing":
            existing.add((organization_id, part_number))
        else:
            current[(organization_id, part_number)] = row_id
    result.existing = sum(1 for key in wanted if key in existing)
    todo = [key for key in wanted if key not in existing]
    if not todo:
        return result

    due = child_due_date(parent.due_date if parent else None, today=now.date(), settings=settings)
    program = (parent.program if parent else None) or declaration.program
    created: list[DisclosureRequest] = []
    for supplier_id, part_number in todo:
        answer = current.get((supplier_id, part_number))
        request = DisclosureRequest(
            requester_id=declaration.issuer_id,
            supplier_id=supplier_id,
            part_number=part_number,
            program=program,
            status="answered" if answer else "open",
            due_date=due,
            parent_id=parent_id,
            declaration_id=answer,
            source_declaration_id=declaration.id,
            created_at=now,
            answered_at=now if answer else None,
        )
        session.add(request)
        created.append(request)
    # Requests first: the notifications and events below reference their ids.
    session.flush()
    for request in created:
        if request.declaration_id is not None:
            result.linked.append(request.id)
            continue
        result.opened.append(request.id)
        record_event(session, "request.created", {"request_id": request.id})
        # The notify consumer queues the webhook POST when it handles "request.created".
        notify_request(session, request, requester_slug=declaration.issuer_slug, now=now)
    session.flush()
    return result


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
