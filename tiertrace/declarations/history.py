"""Read-side lists of declarations: an organisation's history, current versions, programmes.

Reads only; nothing here flushes. What a viewer may read is decided by
`tiertrace.declarations.services.can_read` and the chain view, never here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tiertrace.declarations.models import Declaration
from tiertrace.errors import NotFoundError
from tiertrace.organizations.models import Organization


def list_declarations(session: Session, issuer: Organization, *, limit: int = 500) -> list[Declaration]:
    """The declarations `issuer` filed, every version, newest first."""
    return list(
        session.scalars(
            select(Declaration)
            .where(Declaration.issuer_id == issuer.id)
            .order_by(Declaration.accepted_at.desc(), Declaration.id)
            .limit(limit)
        )
    )


def get_current_declaration(session: Session, issuer: Organization, part_number: str) -> Declaration | None:
    """The issuer's current declaration of `part_number`, or None."""
    return session.scalar(
        select(Declaration).where(
            Declaration.issuer_id == issuer.id,
            Declaration.part_number == part_number,
            Declaration.is_current,
        )
    )


def require_own_declaration(session: Session, issuer: Organization, declaration_id: str) -> Declaration:
    """One of `issuer`'s own declarations. Raises NotFoundError for anyone else's (no existence leak)."""
    declaration = session.get(Declaration, (declaration_id or "").lower())
    if declaration is None or declaration.issuer_id != issuer.id:
        raise NotFoundError("no such declaration")
    return declaration


@dataclass(frozen=True)
class Programme:
    """A programme: the current top-level declarations carrying its name."""

    name: str
    roots: list[Declaration]
    issuers: list[Organization]


def list_programmes(session: Session, viewer: Organization, *, name: str | None = None) -> list[Programme]:
    """The programmes `viewer` may look at, by name: every one for the authority, a company's own otherwise.

    A company's programmes are those of its own current top-level declarations; other organisations see
    none.
    """
    query = (
        select(Declaration, Organization)
        .join(Organization, Organization.id == Declaration.issuer_id)
        .where(Declaration.program.is_not(None), Declaration.is_current)
        .order_by(Declaration.program, Declaration.accepted_at)
    )
    if name is not None:
        query = query.where(Declaration.program == name)
    if viewer.kind == "company":
        query = query.where(Declaration.issuer_id == viewer.id)
    elif viewer.kind != "authority":
        return []
    grouped: dict[str, tuple[list[Declaration], list[Organization]]] = {}
    for declaration, issuer in session.execute(query):
        roots, issuers = grouped.setdefault(declaration.program or "", ([], []))
        roots.append(declaration)
        if issuer not in issuers:
            issuers.append(issuer)
    return [Programme(key, roots, issuers) for key, (roots, issuers) in grouped.items()]


def require_programme(session: Session, viewer: Organization, name: str) -> Programme:
    """One programme `viewer` may look at. Raises NotFoundError otherwise."""
    found = list_programmes(session, viewer, name=name)
    if not found:
        raise NotFoundError("no such programme")
    return found[0]
