"""The demo programme ZEEHAVIK (a fictional frigate) as data, and a pure builder over it.

`zeehavik.json` beside this file is the single source of truth: organisations, the declarations each one
files, the requests that stay unanswered, and the web personas. This module only reads it (through
importlib.resources) and turns it into frozen dataclasses, payloads and the figures a chain view of the
loaded programme should show. No database, no services, no clock: the loader behind `tiertrace demo`
drives the real services with what is built here. docs/demo.md explains the modelling.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from functools import cache
from importlib import resources
from typing import Any, Literal

from schemas.declaration import DISCLOSURE_CHOICES, SHARE_TOLERANCE
from tiertrace.chains.merge import MaterialLine, Origin

DATA_FILE = "zeehavik.json"
#: Namespace of the demo's declaration ids: uuid5(namespace, demo_ref) is stable across runs.
DEMO_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://tiertrace.example.org/demo/zeehavik")

#: Which version of a superseded declaration a walk uses: "first" is what the programme looked like
#: before the supersession (demo-chain.md §5 is computed on it), "latest" what the chain view shows after
#: the loader has filed everything.
Versions = Literal["latest", "first"]
_WALKS: tuple[Versions, ...] = ("first", "latest")


class DemoDataError(ValueError):
    """The demo data contradicts itself (unknown slug, dangling reference, unreachable filing, cycle)."""


@dataclass(frozen=True, slots=True)
class Organization:
    """An organisation to register: the 79 companies of the chain, the ministry and the operator."""

    demo_id: str
    slug: str
    name: str
    country: str
    #: "company", "authority" or "operator".
    kind: str
    role: str
    #: Tier of the organisation's main route as the programme document gives it; None outside the chain.
    tier: int | None = None
    #: Identity sealed by its customer (disclosed to the authority only).
    sealed: bool = False
    #: Default choice for the components this organisation lists (a component may override it).
    disclose_supplier_to: tuple[str, ...] | None = None
    note: str | None = None

    @property
    def signing_seed(self) -> bytes:
        """32 bytes to derive the organisation's demo Ed25519 key from (deterministic, demo only)."""
        return hashlib.sha256(f"tiertrace-demo:{self.slug}".encode()).digest()


@dataclass(frozen=True, slots=True)
class Component:
    """A bought-in part: `quantity` units of the supplier's part per ONE unit of the issuer's part."""

    part_number: str
    supplier: str | None
    quantity: float
    request_disclosure: bool = True
    #: The resolved choice (component override, else the issuer's default); empty when supplier is None.
    disclose_supplier_to: tuple[str, ...] = ()
    supplier_name: str | None = None
    supplier_country: str | None = None
    #: What the quantity means; documentation only, never sent.
    note: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """The component as payload v1 writes it: a named supplier with its disclosure choice, or null."""
        if self.supplier is None:
            component: dict[str, Any] = {"part_number": self.part_number, "supplier": None}
            if self.supplier_name:
                component["supplier_name"] = self.supplier_name
            if self.supplier_country:
                component["supplier_country"] = self.supplier_country
            component["quantity"] = self.quantity
            component["request_disclosure"] = self.request_disclosure
            return component
        return {
            "part_number": self.part_number,
            "supplier": self.supplier,
            "quantity": self.quantity,
            "request_disclosure": self.request_disclosure,
            "disclose_supplier_to": list(self.disclose_supplier_to),
        }


@dataclass(frozen=True, slots=True)
class Filing:
    """One declaration an organisation of the demo files (the signed payload without its envelope data)."""

    #: The programme document's name for it, e.g. "DECL-208-001"; unique within the demo.
    ref: str
    #: The issuer's slug.
    org: str
    part_number: str
    part_name: str
    unit: str
    materials: tuple[MaterialLine, ...]
    components: tuple[Component, ...]
    statement: str
    issued_on: date
    program: str | None = None
    #: The ref of the filing this one supersedes (same issuer and part), or None.
    supersedes_ref: str | None = None
    #: Depth of the filing's first appearance in the programme's tree (the OEM's filing is 0).
    tier: int = 0

    @property
    def payload(self) -> dict[str, Any]:
        """The payload fields the filing fixes; `payload_for` adds the id and the envelope-time fields."""
        payload: dict[str, Any] = {"issuer": self.org}
        if self.program:
            payload["program"] = self.program
        payload["part"] = {"number": self.part_number, "name": self.part_name, "unit": self.unit}
        payload["materials"] = [line.as_payload() for line in self.materials]
        payload["components"] = [component.as_payload() for component in self.components]
        payload["statement"] = self.statement
        return payload

    @property
    def issued_at(self) -> datetime:
        """The document's date of the declaration, 09:00 UTC (a loader may use it or the clock)."""
        return datetime.combine(self.issued_on, time(9, 0), tzinfo=UTC)

    @property
    def declaration_uuid(self) -> uuid.UUID:
        """A stable id for this filing, so loading the demo twice yields the same declaration ids."""
        return uuid.uuid5(DEMO_NAMESPACE, self.ref)


@dataclass(frozen=True, slots=True)
class Persona:
    """A person who logs in to the web portal in the demo."""

    role: str
    name: str
    email: str
    organization: str
    password: str


@dataclass(frozen=True, slots=True)
class SilentRequest:
    """A request the demo leaves unanswered on purpose (its supplier has no filing)."""

    ref: str
    requester: str
    supplier: str
    part_number: str
    requested_on: date
    due_date: date | None
    reminders: tuple[date, ...]
    expected_status: str
    problem: str
    note: str


@dataclass(frozen=True, slots=True)
class ExpectedNode:
    """A node of the programme's tree (the DAG unfolded from the ship), as a chain view should show it."""

    index: int
    parent: int | None
    tier: int
    #: The declaration at this node, or None for a gap.
    filing: Filing | None
    #: The component of the parent that leads here (None at the root).
    component: Component | None
    quantity_in_root: float
    #: None for a declaration; "unknown_supplier", "open" or "overdue" for a gap.
    gap: str | None


@dataclass(frozen=True)
class Programme:
    """The whole demo: who registers, who files what in which order, who logs in, what stays unanswered."""

    name: str
    title: str
    #: The demo's companies in demo-id order, then the authority and the operator.
    organizations: tuple[Organization, ...]
    #: Every declaration of the demo in the order that answers requests tier by tier: first the filings of
    #: the programme as first declared, by tier; then each superseding filing and what only it reaches.
    filings: tuple[Filing, ...]
    personas: tuple[Persona, ...]
    silent_requests: tuple[SilentRequest, ...]

    @property
    def companies(self) -> tuple[Organization, ...]:
        """The 79 organisations of the supply chain (no authority, no operator)."""
        return tuple(org for org in self.organizations if org.kind == "company")

    @property
    def root(self) -> Filing:
        """The OEM's top-level declaration (the one filing that names the programme)."""
        return next(filing for filing in self.filings if filing.program == self.name)

    @property
    def supersessions(self) -> tuple[Filing, ...]:
        """The filings that supersede an earlier one, in filing order."""
        return tuple(filing for filing in self.filings if filing.supersedes_ref)

    def get_organization(self, slug: str) -> Organization | None:
        """The organisation with this slug, or None."""
        return next((org for org in self.organizations if org.slug == slug), None)

    def require_organization(self, slug: str) -> Organization:
        """The organisation with this slug; raises KeyError if the demo has none."""
        org = self.get_organization(slug)
        if org is None:
            raise KeyError(slug)
        return org

    def require_filing(self, ref: str) -> Filing:
        """The filing with this demo ref (e.g. "DECL-208-002"); raises KeyError if there is none."""
        for filing in self.filings:
            if filing.ref == ref:
                return filing
        raise KeyError(ref)

    def filings_of(self, slug: str) -> tuple[Filing, ...]:
        """Every filing the organisation makes, in filing order (empty for O-216 and O-328)."""
        return tuple(filing for filing in self.filings if filing.org == slug)

    def get_answer(self, supplier: str, part_number: str) -> Filing | None:
        """The filing that answers a request to `supplier` about `part_number` (the first version), if any."""
        return self.get_version(supplier, part_number, versions="first")

    def get_version(self, supplier: str, part_number: str, *, versions: Versions = "latest") -> Filing | None:
        """The first or the latest filing of `supplier` for `part_number`, or None if it files none."""
        chain = [f for f in self.filings if f.org == supplier and f.part_number == part_number]
        if not chain:
            return None
        superseded = {f.supersedes_ref for f in chain}
        if versions == "first":
            return next(f for f in chain if f.supersedes_ref is None)
        return next(f for f in chain if f.ref not in superseded)

    def get_silent_request(self, supplier: str, part_number: str) -> SilentRequest | None:
        """The request to `supplier` about `part_number` that the demo leaves unanswered, if it is one."""
        return next(
            (r for r in self.silent_requests if r.supplier == supplier and r.part_number == part_number), None
        )


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _filing(org: Mapping[str, Any], item: Mapping[str, Any]) -> Filing:
    default = org.get("disclose_supplier_to")
    components = []
    for raw in item["components"]:
        choice = raw.get("disclose_supplier_to", default)
        if raw["supplier"] is not None and (
            not choice or len(choice) != 1 or choice[0] not in DISCLOSURE_CHOICES
        ):
            raise DemoDataError(f"{item['demo_ref']}: bad disclose_supplier_to for {raw['part_number']}")
        components.append(
            Component(
                part_number=raw["part_number"],
                supplier=raw["supplier"],
                quantity=float(raw["quantity"]),
                request_disclosure=raw.get("request_disclosure", True),
                disclose_supplier_to=tuple(choice) if raw["supplier"] is not None else (),
                supplier_name=raw.get("supplier_name"),
                supplier_country=raw.get("supplier_country"),
                note=raw.get("note"),
            )
        )
    materials = tuple(MaterialLine.from_payload(raw) for raw in item["materials"])
    return Filing(
        ref=item["demo_ref"],
        org=org["slug"],
        part_number=item["part"]["number"],
        part_name=item["part"]["name"],
        unit=item["part"]["unit"],
        materials=materials,
        components=tuple(components),
        statement=item["statement"],
        issued_on=date.fromisoformat(item["issued_on"]),
        program=item.get("program"),
        supersedes_ref=item.get("supersedes_demo_ref"),
    )


def _organization(raw: Mapping[str, Any]) -> Organization:
    choice = raw.get("disclose_supplier_to")
    return Organization(
        demo_id=raw["demo_id"],
        slug=raw["slug"],
        name=raw["name"],
        country=raw["country"],
        kind=raw.get("kind", "company"),
        role=raw["role"],
        tier=raw.get("tier"),
        sealed=raw.get("sealed", False),
        disclose_supplier_to=tuple(choice) if choice else None,
        note=raw.get("note"),
    )


def parse_programme(document: Mapping[str, Any]) -> Programme:
    """Build a Programme from the decoded JSON document; raises DemoDataError when it contradicts itself."""
    companies = [_organization(raw) for raw in document["organizations"]]
    others = [_organization(raw) for raw in document["personas"]["organizations"]]
    organizations = tuple(sorted(companies, key=lambda org: org.demo_id)) + tuple(others)
    slugs = [org.slug for org in organizations]
    if len(set(slugs)) != len(slugs):
        raise DemoDataError("duplicate organisation slug")
    filings = [_filing(raw, item) for raw in document["organizations"] for item in raw["declarations"]]
    password = document["personas"]["password"]
    personas = tuple(
        Persona(raw["role"], raw["name"], raw["email"], raw["organization"], password)
        for raw in document["personas"]["users"]
    )
    silent = tuple(
        SilentRequest(
            ref=raw["demo_ref"],
            requester=raw["requester"],
            supplier=raw["supplier"],
            part_number=raw["part_number"],
            requested_on=date.fromisoformat(raw["requested_on"]),
            due_date=_date(raw.get("due_date")),
            reminders=tuple(date.fromisoformat(day) for day in raw.get("reminders", [])),
            expected_status=raw["expected_status"],
            problem=raw["problem"],
            note=raw.get("note", ""),
        )
        for raw in document["silent_requests"]
    )
    draft = Programme(document["program"], document["title"], organizations, tuple(filings), personas, silent)
    _check_references(draft, {org.slug for org in companies}, set(slugs))
    return _ordered(draft)


def _check_references(programme: Programme, company_slugs: set[str], slugs: set[str]) -> None:
    refs = [filing.ref for filing in programme.filings]
    if len(set(refs)) != len(refs):
        raise DemoDataError("duplicate demo_ref")
    by_ref = {filing.ref: filing for filing in programme.filings}
    for filing in programme.filings:
        if filing.supersedes_ref is not None:
            old = by_ref.get(filing.supersedes_ref)
            if old is None or (old.org, old.part_number) != (filing.org, filing.part_number):
                raise DemoDataError(
                    f"{filing.ref} supersedes {filing.supersedes_ref}: not its own earlier version"
                )
        for component in filing.components:
            if component.supplier is None:
                continue
            if component.supplier not in company_slugs:
                raise DemoDataError(f"{filing.ref}: unknown supplier {component.supplier!r}")
            answered = programme.get_version(component.supplier, component.part_number) is not None
            silent = programme.get_silent_request(component.supplier, component.part_number) is not None
            if answered == silent:
                raise DemoDataError(
                    f"{filing.ref}: {component.supplier}/{component.part_number} must either have a filing "
                    "or be a silent request, not both or neither"
                )
    for persona in programme.personas:
        if persona.organization not in slugs:
            raise DemoDataError(f"persona {persona.email}: unknown organisation {persona.organization!r}")
    roots = [filing for filing in programme.filings if filing.program == programme.name]
    if len(roots) != 1:
        raise DemoDataError(f"expected one filing naming programme {programme.name}, found {len(roots)}")


def _ordered(programme: Programme) -> Programme:
    """The same programme with each filing's tier set and the filings in the order a loader answers them."""
    depth: dict[str, tuple[int, int]] = {}
    for phase, versions in enumerate(_WALKS):
        for node in unfold(programme, versions=versions):
            if node.filing is not None and node.filing.ref not in depth:
                depth[node.filing.ref] = (phase, node.tier)
    unreachable = sorted(f.ref for f in programme.filings if f.ref not in depth)
    if unreachable:
        raise DemoDataError(f"filings not reachable from the ship: {', '.join(unreachable)}")
    demo_ids = {org.slug: org.demo_id for org in programme.organizations}
    tiered = [replace(f, tier=depth[f.ref][1]) for f in programme.filings]
    tiered.sort(key=lambda f: (depth[f.ref], demo_ids[f.org], f.ref))
    return Programme(
        programme.name,
        programme.title,
        programme.organizations,
        tuple(tiered),
        programme.personas,
        programme.silent_requests,
    )


@cache
def load_programme() -> Programme:
    """The ZEEHAVIK demo programme, read from the package's `zeehavik.json` (cached; every part is frozen)."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse_programme(json.loads(text))


def unfold(programme: Programme | None = None, *, versions: Versions = "latest") -> list[ExpectedNode]:
    """The programme's DAG unfolded into a tree from the ship, depth first, as a chain view lists it.

    A component whose supplier has no filing becomes a gap node: "unknown_supplier" when the supplier is
    null, else the status its silent request is expected to have. Raises DemoDataError on a cycle.
    """
    programme = programme or load_programme()
    nodes: list[ExpectedNode] = []

    def visit(
        filing: Filing,
        component: Component | None,
        parent: int | None,
        tier: int,
        qty: float,
        path: tuple[str, ...],
    ) -> None:
        if filing.ref in path:
            raise DemoDataError(f"cycle: {' > '.join((*path, filing.ref))}")
        index = len(nodes)
        nodes.append(ExpectedNode(index, parent, tier, filing, component, qty, None))
        for child in filing.components:
            child_qty = qty * child.quantity
            target = None
            if child.supplier is not None:
                target = programme.get_version(child.supplier, child.part_number, versions=versions)
            if target is not None:
                visit(target, child, index, tier + 1, child_qty, (*path, filing.ref))
                continue
            if child.supplier is None:
                gap = "unknown_supplier"
            else:
                silent = programme.get_silent_request(child.supplier, child.part_number)
                gap = silent.expected_status if silent else "open"
            nodes.append(ExpectedNode(len(nodes), index, tier + 1, None, child, child_qty, gap))

    visit(programme.root, None, None, 0, 1.0, ())
    return nodes


def _unknown_share(origins: tuple[Origin, ...]) -> float:
    rest = 1.0 - sum(origin.share for origin in origins)
    return rest if rest > SHARE_TOLERANCE else 0.0


def expected_per_ship_rollup(
    programme: Programme | None = None, *, versions: Versions = "latest"
) -> dict[str, dict[str, Any]]:
    """Mass per material in one ship, by extraction and processing country ("unknown" for the rest).

    Shaped like the chain view's `rollup`: {material: {"mass_g", "extraction": {cc: g}, "processing":
    {cc: g}, "recycled_g"}}, where each stage always carries "unknown" (0.0 when fully traced). Computed by
    walking the data; gaps contribute nothing.
    """
    rollup: dict[str, dict[str, Any]] = {}
    for node in unfold(programme, versions=versions):
        if node.filing is None:
            continue
        for line in node.filing.materials:
            mass = line.mass_g * node.quantity_in_root
            entry = rollup.setdefault(
                line.material,
                {
                    "mass_g": 0.0,
                    "extraction": {"unknown": 0.0},
                    "processing": {"unknown": 0.0},
                    "recycled_g": 0.0,
                },
            )
            entry["mass_g"] += mass
            entry["recycled_g"] += mass * line.recycled_share
            for stage, origins in (("extraction", line.extraction), ("processing", line.processing)):
                by_country = entry[stage]
                for origin in origins:
                    by_country[origin.country] = by_country.get(origin.country, 0.0) + mass * origin.share
                by_country["unknown"] += mass * _unknown_share(origins)
    return rollup


def expected_per_ship_totals(
    programme: Programme | None = None, *, versions: Versions = "latest"
) -> dict[str, float]:
    """Grams of each material in one ship, walked from the data (versions: see `Versions`)."""
    rollup = expected_per_ship_rollup(programme, versions=versions)
    return {material: entry["mass_g"] for material, entry in rollup.items()}


def iter_components(programme: Programme | None = None) -> Iterator[tuple[Filing, Component]]:
    """Every (filing, component) pair of the demo, in filing order."""
    programme = programme or load_programme()
    for filing in programme.filings:
        for component in filing.components:
            yield filing, component


def _rfc3339(value: datetime | str) -> str:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() != UTC.utcoffset(None) or "T" not in value.upper():
            raise ValueError(f"issued_at must be an RFC 3339 UTC timestamp, got {value!r}")
        return value
    if value.tzinfo is None:
        raise ValueError("issued_at must be timezone-aware")
    value = value.astimezone(UTC)
    spec = "seconds" if value.microsecond == 0 else "microseconds"
    return value.isoformat(timespec=spec).replace("+00:00", "Z")


def payload_for(
    filing: Filing,
    *,
    declaration_id: uuid.UUID | str,
    issued_at: datetime | str,
    in_response_to: str | int | uuid.UUID | None,
    supersedes: str | uuid.UUID | None,
) -> dict[str, Any]:
    """The complete payload v1 dict for `filing`, ready to serialise and sign.

    `supersedes` must be the id of the declaration filed for `filing.supersedes_ref`, and None for a first
    version (raises ValueError otherwise, as the portal would answer 409). Builds a fresh dict every call.
    """
    if (filing.supersedes_ref is None) != (supersedes is None):
        wanted = f"the id of {filing.supersedes_ref}" if filing.supersedes_ref else "None"
        raise ValueError(f"{filing.ref}: supersedes must be {wanted}")
    body = filing.payload
    payload: dict[str, Any] = {
        "id": str(uuid.UUID(str(declaration_id))),
        "issuer": body.pop("issuer"),
        "issued_at": _rfc3339(issued_at),
        "in_response_to": None if in_response_to is None else str(in_response_to),
        "supersedes": None if supersedes is None else str(supersedes),
    }
    payload.update(body)
    return payload
