"""The operator's list of organisations to onboard: the suppliers that current declarations name by
`supplier_name` / `supplier_country` because they are not on the portal (DESIGN, "Signed declarations").

The operator registers organisations but reads no declarations, and must not learn who buys from whom:
an entry says who the named supplier is and how often it is named (counts only), never which
organisations named it, for which parts, or in which programmes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.declarations.rules import object_rows
from tiertrace.organizations.models import Organization

#: How many declarations' components are fetched at a time (the list reads every current one that names
#: a supplier without a slug).
_BATCH = 1000


@dataclass(frozen=True)
class SupplierToOnboard:
    """A supplier that current declarations name without a slug, grouped by `supplier_key`."""

    #: The most common spelling among the declarations naming it (whitespace runs made one space).
    name: str
    #: ISO 3166-1 alpha-2, or None where the declarations give no country.
    country: str | None
    #: How many current declarations name it, and how many distinct organisations issued them.
    declarations: int
    organizations: int
    #: When the first and the last of those declarations were accepted.
    first_named_at: datetime
    last_named_at: datetime
    #: The slug of a registered company with the same name and country, else None: the supplier is on
    #: the portal, and the declaring organisations still have to file versions naming that slug.
    registered_as: str | None


def supplier_key(name: str, country: str | None) -> tuple[str, str | None]:
    """What makes two named suppliers one: the name case-folded, runs of whitespace made one space
    (none at the ends), and the country."""
    return " ".join(name.split()).casefold(), country


def named_suppliers(components: Any) -> dict[tuple[str, str | None], str]:
    """The suppliers a payload's `components` name without a slug: `supplier_key` -> the spelling used
    (the first component's, whitespace runs made one space). Components with a slug or no name are left out.
    """
    named: dict[tuple[str, str | None], str] = {}
    for _, component in object_rows(components):
        name = component.get("supplier_name")
        if component.get("supplier") is None and isinstance(name, str) and name.strip():
            country = component.get("supplier_country")
            named.setdefault(supplier_key(name, country), " ".join(name.split()))
    return named


@dataclass
class _Tally:
    first: datetime
    last: datetime
    spellings: Counter[str] = field(default_factory=Counter)
    declarations: int = 0
    issuers: set[int] = field(default_factory=set)

    def add(self, spelling: str, issuer_id: int, accepted_at: datetime) -> None:
        self.spellings[spelling] += 1
        self.declarations += 1
        self.issuers.add(issuer_id)
        self.first = min(self.first, accepted_at)
        self.last = max(self.last, accepted_at)


def tally_suppliers(
    namings: Iterable[tuple[int, datetime, Any]], registered: Mapping[tuple[str, str | None], str]
) -> list[SupplierToOnboard]:
    """The suppliers to onboard from `(issuer_id, accepted_at, components)` of each current declaration,
    most named first (then by most organisations, then by name); `registered` maps a `supplier_key` to
    the slug of the registered company it matches.

    A declaration naming the same supplier in several components counts once. The display name is the
    spelling most declarations use (ties: the alphabetically first).
    """
    tallies: dict[tuple[str, str | None], _Tally] = {}
    for issuer_id, accepted_at, components in namings:
        for key, spelling in named_suppliers(components).items():
            if key not in tallies:
                tallies[key] = _Tally(first=accepted_at, last=accepted_at)
            tallies[key].add(spelling, issuer_id, accepted_at)
    listed = [
        SupplierToOnboard(
            name=min(tally.spellings, key=lambda s: (-tally.spellings[s], s)),
            country=key[1],
            declarations=tally.declarations,
            organizations=len(tally.issuers),
            first_named_at=tally.first,
            last_named_at=tally.last,
            registered_as=registered.get(key),
        )
        for key, tally in tallies.items()
    ]
    return sorted(
        listed, key=lambda s: (-s.declarations, -s.organizations, s.name.casefold(), s.country or "")
    )


def suppliers_to_onboard(session: Session) -> list[SupplierToOnboard]:
    """The operator's list of organisations to onboard, from the current declarations (see `tally_suppliers`).

    Entries that match a registered company stay listed, marked `registered_as`: until the declaring
    organisations file new versions naming the slug, their chains still show the supplier as an
    `unknown_supplier` gap, and a name match may be another company of the same name. An entry leaves
    the list once no current declaration names it without a slug. Reads only; flushes nothing.
    """
    registered: dict[tuple[str, str | None], str] = {}
    for slug, name, country in session.execute(
        select(Organization.slug, Organization.name, Organization.country)
        .where(Organization.kind == "company")
        .order_by(Organization.id)
    ):
        registered.setdefault(supplier_key(name, country), slug)  # the first registered of namesakes
    # Only declarations with a component row without a supplier can name one, and only their components
    # are read, not whole payloads (materials and statements can be large), a batch at a time: yield_per
    # streams (a server-side cursor on PostgreSQL, closed by the `with`).
    naming = (
        select(Declaration.issuer_id, Declaration.accepted_at, Declaration.payload["components"])
        .where(
            Declaration.is_current,
            exists().where(
                DeclarationComponent.declaration_id == Declaration.id,
                DeclarationComponent.supplier_id.is_(None),
            ),
        )
        .execution_options(yield_per=_BATCH)
    )
    with session.execute(naming) as rows:
        return tally_suppliers(rows, registered)
