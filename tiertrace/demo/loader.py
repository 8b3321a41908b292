"""Load the demo programme ZEEHAVIK into a database through the same services and bus a user would use.

`load_demo` registers the organisations (a signing key each, from `Organization.signing_seed`), the web
accounts of the three personas, files the OEM's top-level declaration, and then plays the suppliers:
after every declaration it drains the bus, looks for the open requests the bus forwarded to demo
organisations and answers the next one with its filing, signed with the answering organisation's key,
until no request it has an answer for is left. Then it files the superseding magnet declaration, runs
the overdue sweep and makes sure the sealed request to "Supplier X" is pending. Nothing is written
behind the services' backs: every status comes from submit, propagation, merge or the sweep.

The story's clock. The data's dates are 2025, and a request's dates come from whoever creates it: the
propagate handler stamps a forwarded request with *its* clock and makes it due `tier_margin_days`
before its parent (never before that day). To replay the story with 2025 dates, the caller runs the
bus's handlers on a `DemoClock` and passes the same clock here; the loader moves it along
`plan_timeline` (the data's dates, kept causal: nobody answers before being asked), and a declaration's
`issued_at` is the story time it is filed at. The overdue sweep then runs on the real clock (`now`), so
the graphite request of 2025 (P1) is overdue, reminded and escalated, as any later sweep would find it.
Without a clock (workers on RabbitMQ, on their own clock) every step is stamped with the real clock:
the same data and figures, but P1's request only becomes overdue once its due date has passed; the
summary says when.

"Supplier X" (P2) is sealed and never answers. Its request forwarded in 2025 is overdue by now like
any other; the data says a sealed invitation is pending, so when the latest request on that line is not
open the loader has O-107 send that invitation (`create_request`, due `default_due_days` from `now`).

Running it again is harmless: every step looks first (organisation by slug, account by email,
declaration by its stable id, a pending request) and the sweep is idempotent, so a second run files
nothing and `DemoSummary.already_loaded` says so. A run that stopped half-way resumes where it stopped.
An organisation under a demo slug with another name, country or kind than the demo's is not the demo's:
the load stops before it writes anything rather than take it over.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tiertrace import signing
from tiertrace.chains import merge
from tiertrace.chains.services import require_rollup
from tiertrace.db import utcnow
from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import submit_declaration
from tiertrace.demo import Filing, Programme, load_programme, payload_for
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.overdue import run_overdue_sweep
from tiertrace.disclosure.services import create_request
from tiertrace.errors import ConflictError
from tiertrace.organizations.accounts import accept_invite, create_user, normalize_email
from tiertrace.organizations.models import Organization, User
from tiertrace.organizations.services import create_organization, get_organization, register_key

#: Called as progress(done, total, what) after every step; the CLI turns it into a progress bar.
Progress = Callable[[int, int, str], None]

#: Two things never happen at the same instant in the story: lists sorted by time read in story order.
STEP = timedelta(minutes=1)

#: What the sealed invitation to "Supplier X" says (the data's REQ-216-SEALED).
SEALED_MESSAGE = (
    "Sealed invitation ({ref}): please declare {part}. Your identity stays sealed: only the authority "
    "learns who you are; {requester}'s customers see an undisclosed supplier."
)


class LoaderSettings(Protocol):
    """The part of `tiertrace.config.Settings` the loader reads (the sweep and new requests' due dates)."""

    # Read-only members, so the frozen Settings dataclass satisfies the protocol.
    @property
    def escalation_grace_days(self) -> int: ...
    @property
    def default_due_days(self) -> int: ...


class DemoClock:
    """The story's clock: the bus's handlers read it (`clock()`), the loader moves it forward.

    Starts at the OEM's declaration date; `advance_to` never goes back, so every timestamp the story
    writes is later than the ones before it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or load_programme().root.issued_at

    def __call__(self) -> datetime:
        # Read by the bus thread while the loader waits in `drain`; the loader moves the clock only
        # between drains, so a handler never sees it change under it.
        return self._now

    def advance_to(self, moment: datetime) -> datetime:
        """Move to `moment` unless the clock is already later; returns the clock's time."""
        if moment > self._now:
            self._now = moment
        return self._now


@dataclass(frozen=True)
class PlannedFiling:
    """When in the story a filing is made (its declaration's `issued_at` and acceptance time)."""

    ref: str
    at: datetime


@dataclass(frozen=True)
class Login:
    """A persona's web login."""

    role: str
    name: str
    email: str
    password: str
    organization: str
    organization_name: str


@dataclass(frozen=True)
class Headline:
    """The demo's headline figures, read from the ship's materialised rollup (grams per ship)."""

    ga_mass_g: float
    ga_refined_cn_share: float
    components_declared: int
    components_total: int
    max_tier: int


@dataclass(frozen=True)
class OpenLine:
    """A demo request the suppliers leave unanswered, as it stands after the load."""

    ref: str
    requester: str
    supplier: str
    part_number: str
    status: str
    due_date: str | None


@dataclass(frozen=True)
class DemoSummary:
    """What `load_demo` left in the database (totals, whether this run or an earlier one made them)."""

    programme: str
    root_declaration_id: str
    #: Demo organisations registered (companies, the authority and the operator).
    organizations: int
    #: Demo declarations stored (every version).
    declarations: int
    #: Requests the bus created for the demo's components (forwarded up the tiers, open or linked).
    requests_forwarded: int
    logins: tuple[Login, ...]
    headline: Headline
    #: The requests the demo leaves unanswered (P1 graphite, P2 "Supplier X").
    unanswered: tuple[OpenLine, ...]
    #: True when this run found everything in place and changed nothing.
    already_loaded: bool
    #: What this run added.
    organizations_created: int = 0
    declarations_filed: int = 0
    requests_sent: int = 0
    #: Things the reader should know (e.g. when P1's request becomes overdue without the story clock).
    notes: tuple[str, ...] = ()


@dataclass
class _Run:
    """Mutable state of one load."""

    programme: Programme
    session_factory: sessionmaker[Session]
    settings: LoaderSettings
    drain: Callable[[], None]
    #: The present for the sweep and the sealed invitation; without a story clock, the time of every step.
    now: datetime
    #: True when the caller fixed `now`; otherwise each step without a story clock reads the real clock.
    now_fixed: bool
    clock: DemoClock | None
    progress: Progress | None
    plan: dict[str, tuple[int, datetime]]
    total: int
    done: int = 0
    keys: dict[str, Any] = field(default_factory=dict)
    organizations_created: int = 0
    declarations_filed: int = 0
    requests_sent: int = 0
    notes: list[str] = field(default_factory=list)

    def tick(self, what: str, steps: int = 1) -> None:
        self.done = min(self.total, self.done + steps)
        if self.progress is not None:
            self.progress(self.done, self.total, what)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits when the block ends (the loader is the entrypoint here)."""
        with self.session_factory() as session, session.begin():
            yield session


def load_demo(
    session_factory: sessionmaker[Session],
    settings: LoaderSettings,
    *,
    drain: Callable[[], None],
    now: datetime | None = None,
    progress: Progress | None = None,
    clock: DemoClock | None = None,
    programme: Programme | None = None,
) -> DemoSummary:
    """Load the ZEEHAVIK demo through the services and the bus; returns what is in the database.

    `drain` blocks until the bus has handled every event committed so far (the embedded bus's
    `drain`, or a wait for the RabbitMQ workers). `now` is the present (default: the real clock): the
    overdue sweep and the sealed invitation use it. `clock`, when given, is the clock the bus's handlers
    read; the loader then replays the story at the data's 2025 dates (see the module docstring).
    Commits after every step. Idempotent. Raises ConflictError, before writing anything, when an
    organisation the demo did not create holds a demo slug; what the services raise (a TiertraceError
    for other conflicting non-demo data); TimeoutError from `drain`.
    """
    programme = programme or load_programme()
    plan = {item.ref: (index, item.at) for index, item in enumerate(plan_timeline(programme))}
    run = _Run(
        programme,
        session_factory,
        settings,
        drain,
        now or utcnow(),
        now is not None,
        clock,
        progress,
        plan,
        step_count(programme),
    )

    _require_no_strangers(run)
    _register_organizations(run)
    _create_accounts(run)
    # Events a previous, interrupted run committed are handled before anything is looked at.
    drain()
    run.tick("declarations", _count_demo_declarations(run))
    _file(run, programme.root, in_response_to=None)
    _answer_requests(run)
    for filing in programme.supersessions:
        _file(run, filing, in_response_to=None)
        _answer_requests(run)
    _settle_unanswered(run)
    summary = _summarise(run)
    run.tick("done")
    return summary


def step_count(programme: Programme | None = None) -> int:
    """How many steps `load_demo` reports to `progress`: organisations, accounts, filings, the end."""
    programme = programme or load_programme()
    return len(programme.organizations) + len(programme.personas) + len(programme.filings) + 1


# --- the story's timeline ---------------------------------------------------------------------------


def _requested(filing: Filing) -> list[tuple[str, str]]:
    """(supplier, part) of the components propagation forwards, in order, once each."""
    keys: dict[tuple[str, str], None] = {}
    for component in filing.components:
        if (
            component.supplier is not None
            and component.request_disclosure
            and component.supplier != filing.org
        ):
            keys.setdefault((component.supplier, component.part_number), None)
    return list(keys)


def plan_timeline(programme: Programme | None = None) -> tuple[PlannedFiling, ...]:
    """The order and story time of every filing: the data's dates, kept causal, answers linked.

    A small simulation of what the bus does: the OEM files first; each accepted filing asks its
    suppliers (a request per component, at the filing's time); a supplier answers at its data date, or
    as soon as it is asked if that date is earlier. Times strictly increase by at least `STEP`.

    One rule the data alone would break: the portal links an existing declaration to a request only
    when the request is created after it. So when a filing would ask a supplier that was asked already
    but has not answered yet, that supplier answers first (a second open request for a part already
    declared would never be answered). Then the supersessions, each followed by whatever only it reaches.
    """
    programme = programme or load_programme()
    plan: list[PlannedFiling] = []
    declared: set[tuple[str, str]] = set()
    asked: dict[tuple[str, str], Filing] = {}
    queue: list[tuple[datetime, int, tuple[str, str]]] = []
    order = itertools.count()
    last = [programme.root.issued_at - STEP]

    def accept(filing: Filing, earliest: datetime) -> None:
        for key in _requested(filing):
            if key in asked and key not in declared:
                accept(asked[key], last[0])
        at = max(last[0] + STEP, earliest)
        last[0] = at
        declared.add((filing.org, filing.part_number))
        plan.append(PlannedFiling(filing.ref, at))
        for key in _requested(filing):
            if key in declared or key in asked:
                continue
            answer = programme.get_answer(*key)
            if answer is not None:
                asked[key] = answer
                heapq.heappush(queue, (max(at, answer.issued_at), next(order), key))

    def answer_all() -> None:
        while queue:
            earliest, _, key = heapq.heappop(queue)
            if key not in declared:
                accept(asked[key], earliest)

    accept(programme.root, programme.root.issued_at)
    answer_all()
    for filing in programme.supersessions:
        accept(filing, filing.issued_at)
        answer_all()
    return tuple(plan)


# --- the steps ----------------------------------------------------------------------------------------


def _require_no_strangers(run: _Run) -> None:
    """Refuse to load over organisations the demo did not create that hold a demo slug.

    Raises ConflictError: the demo would take such an organisation over (its people would get the demo's
    key and declarations). One the demo created has the demo's name, country and kind.
    """
    demo = {org.slug: (org.name, org.country, org.kind) for org in run.programme.organizations}
    with run.session_factory() as session:
        found = session.execute(
            select(Organization.slug, Organization.name, Organization.country, Organization.kind).where(
                Organization.slug.in_(list(demo))
            )
        ).all()
    strangers = sorted(
        f"{slug} ({name}, {country}, {kind})"
        for slug, name, country, kind in found
        if (name, country, kind) != demo[slug]
    )
    if strangers:
        raise ConflictError(
            f"organisations the demo did not create hold its slugs: {'; '.join(strangers)}. Load the demo "
            "into an empty data folder (a new TIERTRACE_DATA_DIR, or an empty database)"
        )


def _register_organizations(run: _Run) -> None:
    """Register every demo organisation that is missing, and its signing key (idempotent)."""
    for org in run.programme.organizations:
        private_key = signing.private_key_from_seed(org.signing_seed)
        run.keys[org.slug] = private_key
        with run.transaction() as session:
            organization = get_organization(session, org.slug)
            if organization is None:
                # The first API token is not kept: the demo's people log in to the web portal, and an
                # organisation makes new tokens on its settings page.
                organization, _token = create_organization(
                    session, slug=org.slug, name=org.name, country=org.country, kind=org.kind
                )
                run.organizations_created += 1
            register_key(session, organization, signing.encode_b64(signing.public_key_raw(private_key)))
        run.tick(f"organisation {org.slug}")


def _create_accounts(run: _Run) -> None:
    """Create the personas' accounts as the operator does; accept each invitation with the demo password."""
    for persona in run.programme.personas:
        with run.transaction() as session:
            exists = session.scalar(select(User.id).where(User.email == normalize_email(persona.email)))
            if exists is None:
                organization = get_organization(session, persona.organization)
                assert organization is not None  # registered by the step before
                invitation = create_user(session, organization, persona.email, now=run.now)
                accept_invite(session, invitation.token, persona.password, now=run.now)
        run.tick(f"account {persona.email}")


def _declaration_id(filing: Filing) -> str:
    return str(filing.declaration_uuid)


def _file(run: _Run, filing: Filing, *, in_response_to: str | None) -> bool:
    """Sign and submit `filing` as its organisation unless its declaration exists; True if filed now."""
    with run.transaction() as session:
        if session.get(Declaration, _declaration_id(filing)) is not None:
            return False
        at = _moment(run, filing)
        supersedes = None
        if filing.supersedes_ref is not None:
            supersedes = _declaration_id(run.programme.require_filing(filing.supersedes_ref))
        payload = payload_for(
            filing,
            declaration_id=filing.declaration_uuid,
            issued_at=at,
            in_response_to=in_response_to,
            supersedes=supersedes,
        )
        envelope = signing.sign_payload(json.dumps(payload).encode("utf-8"), run.keys[filing.org])
        issuer = get_organization(session, filing.org)
        assert issuer is not None
        submit_declaration(session, issuer, envelope, now=at)
    run.declarations_filed += 1
    run.tick(f"{filing.ref} ({filing.org})")
    # The bus forwards the components now, at the story time just set: the next step may move the clock.
    run.drain()
    return True


def _moment(run: _Run, filing: Filing) -> datetime:
    """When `filing` is made: its planned story time on the story clock, else the present."""
    if run.clock is None:
        # The workers stamp what they create with their own clock: an answer must not predate its request.
        return run.now if run.now_fixed else max(run.now, utcnow())
    _, at = run.plan.get(filing.ref, (len(run.plan), run.clock() + STEP))
    return run.clock.advance_to(at)


def _plan_position(run: _Run, filing: Filing) -> int:
    """Where `filing` comes in `plan_timeline` (after everything when it is not planned)."""
    position, _ = run.plan.get(filing.ref, (len(run.plan), None))
    return position


def _answer_requests(run: _Run) -> None:
    """Answer open requests to demo organisations, one at a time in plan order, until none is answerable.

    A request is answerable when the demo has a filing for its (supplier, part) and that supplier has
    no current declaration of the part yet; the two silent requests have no filing and stay open.
    """
    while True:
        with run.transaction() as session:
            candidates = _answerable(session, run.programme)
            if not candidates:
                return
            request_id, filing = min(candidates, key=lambda item: _plan_position(run, item[1]))
        _file(run, filing, in_response_to=request_id)


def _answerable(session: Session, programme: Programme) -> list[tuple[str, Filing]]:
    """(request id, filing answering it) for each open request the demo can answer, oldest first."""
    slugs = {org.slug for org in programme.companies}
    supplier = Organization.__table__.alias("supplier")
    rows = session.execute(
        select(DisclosureRequest.id, supplier.c.slug, DisclosureRequest.part_number)
        .join(supplier, supplier.c.id == DisclosureRequest.supplier_id)
        .where(DisclosureRequest.status.in_(("open", "overdue")), supplier.c.slug.in_(slugs))
        .order_by(DisclosureRequest.created_at, DisclosureRequest.id)
    ).all()
    found: dict[tuple[str, str], tuple[str, Filing]] = {}
    for request_id, slug, part_number in rows:
        filing = programme.get_answer(slug, part_number)
        if filing is None or (slug, part_number) in found:
            continue
        found[(slug, part_number)] = (request_id, filing)
    if not found:
        return []
    # A line whose declaration exists already cannot be answered again (that needs `supersedes`).
    current = {
        (slug, part_number)
        for slug, part_number in session.execute(
            select(Organization.slug, Declaration.part_number)
            .join(Organization, Organization.id == Declaration.issuer_id)
            .where(Declaration.is_current, Organization.slug.in_({slug for slug, _ in found}))
        )
    }
    return [item for key, item in found.items() if key not in current]


def _latest_request(session: Session, requester: str, supplier: str, part: str) -> DisclosureRequest | None:
    requester_org = Organization.__table__.alias("requester")
    supplier_org = Organization.__table__.alias("supplier")
    return session.scalar(
        select(DisclosureRequest)
        .join(requester_org, requester_org.c.id == DisclosureRequest.requester_id)
        .join(supplier_org, supplier_org.c.id == DisclosureRequest.supplier_id)
        .where(
            requester_org.c.slug == requester,
            supplier_org.c.slug == supplier,
            DisclosureRequest.part_number == part,
        )
        .order_by(DisclosureRequest.created_at.desc(), DisclosureRequest.id.desc())
        .limit(1)
    )


def _waiting_lines(session: Session, programme: Programme) -> set[tuple[str, str, str]]:
    """(requester, supplier, part) of every open or overdue request to a demo company."""
    requester = Organization.__table__.alias("requester")
    supplier = Organization.__table__.alias("supplier")
    rows = session.execute(
        select(requester.c.slug, supplier.c.slug, DisclosureRequest.part_number)
        .join(requester, requester.c.id == DisclosureRequest.requester_id)
        .join(supplier, supplier.c.id == DisclosureRequest.supplier_id)
        .where(
            DisclosureRequest.status.in_(("open", "overdue")),
            supplier.c.slug.in_([org.slug for org in programme.companies]),
        )
    )
    return {(a, b, part) for a, b, part in rows}


def _settle_unanswered(run: _Run) -> None:
    """Run the overdue sweep on the real clock; make sure each silent request is what the data says."""
    with run.transaction() as session:
        run_overdue_sweep(session, run.now, run.settings)
    run.drain()
    for silent in run.programme.silent_requests:
        if silent.expected_status != "open":
            continue
        with run.transaction() as session:
            latest = _latest_request(session, silent.requester, silent.supplier, silent.part_number)
            if latest is not None and latest.status == "open":
                continue
            requester = get_organization(session, silent.requester)
            assert requester is not None
            create_request(
                session,
                requester,
                supplier_slug=silent.supplier,
                part_number=silent.part_number,
                program=run.programme.name,
                message=SEALED_MESSAGE.format(
                    ref=silent.ref, part=silent.part_number, requester=requester.name
                ),
                default_due_days=run.settings.default_due_days,
                now=run.now,
            )
            run.requests_sent += 1
        run.drain()


# --- the summary --------------------------------------------------------------------------------------


def _count_demo_declarations(run: _Run) -> int:
    with run.session_factory() as session:
        return _count_present(session, [_declaration_id(f) for f in run.programme.filings])


def _count_present(session: Session, ids: Iterable[str]) -> int:
    return (
        session.scalar(select(func.count()).select_from(Declaration).where(Declaration.id.in_(list(ids))))
        or 0
    )


def headline_figures(data: dict[str, Any]) -> Headline:
    """The headline figures of a materialised rollup (`Rollup.data`) of the ship."""
    figures = merge.figures_from_data(data)
    rollup = merge.rollup_view(figures)
    coverage = merge.coverage_view(figures)
    gallium = rollup.get("Ga", {"mass_g": 0.0, "processing": {}})
    mass = float(gallium["mass_g"])
    return Headline(
        ga_mass_g=mass,
        ga_refined_cn_share=float(gallium["processing"].get("CN", 0.0)) / mass if mass else 0.0,
        components_declared=int(coverage["components_declared"]),
        components_total=int(coverage["components_total"]),
        max_tier=int(coverage["max_tier"]),
    )


def _summarise(run: _Run) -> DemoSummary:
    programme = run.programme
    ids = [_declaration_id(f) for f in programme.filings]
    root_id = _declaration_id(programme.root)
    with run.session_factory() as session:
        organizations = session.scalar(
            select(func.count())
            .select_from(Organization)
            .where(Organization.slug.in_([o.slug for o in programme.organizations]))
        )
        forwarded = session.scalar(
            select(func.count())
            .select_from(DisclosureRequest)
            .where(DisclosureRequest.source_declaration_id.in_(ids))
        )
        headline = headline_figures(require_rollup(session, root_id))
        unanswered = []
        for silent in programme.silent_requests:
            latest = _latest_request(session, silent.requester, silent.supplier, silent.part_number)
            status = latest.status if latest is not None else "missing"
            due = latest.due_date.isoformat() if latest is not None else None
            unanswered.append(
                OpenLine(silent.ref, silent.requester, silent.supplier, silent.part_number, status, due)
            )
            if silent.expected_status == "overdue" and status == "open":
                run.notes.append(
                    f"{silent.ref} ({silent.supplier}, {silent.part_number}) is open until {due}; the "
                    "overdue sweep marks it overdue the day after (the bus ran on its own clock, so the "
                    "story's 2025 dates were not used)"
                )
        declarations = _count_present(session, ids)
        expected = {(r.requester, r.supplier, r.part_number) for r in programme.silent_requests}
        for line in _waiting_lines(session, programme) - expected:
            # Only a request the plan did not foresee ends here (e.g. asked twice before one answer).
            run.notes.append(f"request {line[0]} -> {line[1]} ({line[2]}) is still waiting for an answer")
        # The checks above only read: end their transaction, which is not part of the load.
        session.rollback()
    logins = []
    for persona in programme.personas:
        org = programme.require_organization(persona.organization)
        logins.append(Login(persona.role, persona.name, persona.email, persona.password, org.slug, org.name))
    changed = run.organizations_created or run.declarations_filed or run.requests_sent
    return DemoSummary(
        programme=programme.name,
        root_declaration_id=root_id,
        organizations=organizations or 0,
        declarations=declarations,
        requests_forwarded=forwarded or 0,
        logins=tuple(logins),
        headline=headline,
        unanswered=tuple(unanswered),
        already_loaded=not changed,
        organizations_created=run.organizations_created,
        declarations_filed=run.declarations_filed,
        requests_sent=run.requests_sent,
        notes=tuple(run.notes),
    )
