"""Materialised rollups (kept current by the merge consumer) and the redacted chain view.

Every current declaration has a `Rollup` row whose `data` holds its figures "as root" (see
`tiertrace.chains.merge`) and what each of its components resolved to::

    {"format": 1, "declaration_id": "...", "issuer_id": 7, "part_number": "TRM-2040",
     "rollup": {...}, "coverage": {..., "gaps": {"open": 2}},   # merge.figures_to_data (out of range: null)
     "children": [{"part_number", "supplier_id", "supplier_name", "supplier_country", "quantity",
                   "disclose_to", "declaration_id", "gap"}, ...],   # in component order
     "cycle_group": [ids] | null,   # the declaration's strongly connected component, when it has one
     "cycle_group_capped": false}   # true: the group is over-large (merge.Merger.capped), every
                                    # component into it a `cycle` gap; absent from older rows

The figures are viewer-independent; `chain_view` unfolds the tree from these rows and redacts it for
the viewer at read time. Only the merge (`refresh_rollups`, `handle_events`, `rebuild_all`,
`remove_superseded_rollups`) writes rows, and each of its transactions first takes the rollup lock
(`ROLLUP_LOCK_KEY`), so that no two of them compute at once: each computes from what it reads, and two
overlapping in time would each miss the other's commit. A read computes a missing row in memory and
stores nothing, because a read that stored rows level by level would take their locks out of id order
and could deadlock with the merge on PostgreSQL. Nothing here commits: the entrypoint owns the
transaction.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from sqlalchemy import Select, Table, Text, and_, bindparam, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from tiertrace.audit.models import AuditLogEntry
from tiertrace.chains import merge
from tiertrace.chains.merge import ChainGraph, DeclarationFacts, Figures, Merger
from tiertrace.chains.models import Rollup
from tiertrace.db import advisory_xact_lock, chunks, utcnow, whole_as_int
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.declarations.services import customer_ids, require_readable_declaration
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.errors import NotFoundError, RuleViolationError
from tiertrace.organizations.models import Organization

log = logging.getLogger(__name__)

#: Version of the `Rollup.data` layout; rows of another version are recomputed when read.
ROLLUP_FORMAT = 1
#: How many nodes a chain view lists unless asked otherwise (DESIGN.md).
DEFAULT_MAX_NODES = 50_000
#: Events that change what a declaration's components resolve to, or the kind of a gap.
_REQUEST_EVENTS = ("request.created", "request.declined", "request.overdue")
#: What one unit of a declaration's part is ("piece", "kg", "cm2"): only that, not the whole payload,
#: which can be up to a megabyte.
_PART_UNIT = Declaration.payload["part"]["unit"].as_string()
#: Key of the PostgreSQL advisory lock that every transaction writing rollups holds from before its first
#: read until it ends ("tiertrac" in ASCII). Advisory locks belong to one database: deployments sharing a
#: server do not wait for each other.
ROLLUP_LOCK_KEY = 0x7469657274726163
#: How many declarations `rebuild_all` loads and merges at a time (a cycle group is never split).
REBUILD_BATCH = 500


# --- materialisation -------------------------------------------------------------------------------------


def refresh_rollups(session: Session, declaration_ids: Iterable[str]) -> set[str]:
    """Recompute the rollups of `declaration_ids` and of every current declaration above them.

    Ancestors are found through the component index: current declarations whose components name the
    (issuer, part number) of an affected current declaration, transitively. A child whose rollup is
    missing is computed (and stored) on the fly, so the result does not depend on the order in which
    events arrive; running it twice gives the same data. Unknown ids are ignored. Takes the rollup lock
    (`_lock_rollups`) first, so it waits for any other transaction writing rollups. Flushes the `Rollup`
    rows (each recomputed row's `generation` goes up by one); returns the ids recomputed.
    """
    seeds = set(declaration_ids)
    if not seeds:
        return set()
    _lock_rollups(session)
    return _refresh(session, seeds)


def _refresh(session: Session, seeds: set[str]) -> set[str]:
    """`refresh_rollups` once the rollup lock is held."""
    loaded = _close_over(session, seeds)
    _store(session, loaded)
    return set(loaded.facts)


def handle_event(session: Session, event_type: str, payload: dict[str, Any]) -> set[str]:
    """The merge consumer's handler: refresh what the event changes; returns the declarations recomputed.

    "declaration.accepted" refreshes the new declaration and every ancestor (they resolve to the
    current version, so a superseding declaration takes the old one's place). "request.created",
    "request.declined" and "request.overdue" refresh the requester's current declarations that list
    (supplier, part number) and their ancestors, because the kind of that gap changed. Other events
    change no figure. Idempotent; takes the rollup lock and flushes like `refresh_rollups`.
    """
    return handle_events(session, [(event_type, payload)])


def handle_events(session: Session, events: Iterable[tuple[str, dict[str, Any]]]) -> set[str]:
    """`handle_event` for several events at once: one refresh of everything any of them changes.

    The same result as handling them one by one in any order (a refresh reads the current state), with
    each shared ancestor recomputed once instead of once per event.
    """
    seeds: set[str] = set()
    request_ids: set[str] = set()
    for event_type, payload in events:
        if event_type == "declaration.accepted":
            seeds.add(payload["declaration_id"])
        elif event_type in _REQUEST_EVENTS:
            request_ids.add(payload["request_id"])
    if not seeds and not request_ids:
        return set()
    _lock_rollups(session)
    for chunk in chunks(request_ids):
        seeds.update(session.scalars(_DECLARATIONS_LISTING_REQUESTS, {"request_ids": chunk}))
    return _refresh(session, seeds)


def _lock_rollups(session: Session) -> None:
    """Wait for the rollup lock and hold it until the transaction ends; before anything is read.

    A merge computes rows from the state it reads: declarations, requests and the stored rows below.
    Under PostgreSQL's READ COMMITTED, two merges overlapping in time each read a state without the
    other's commit, and the one that upserted last put back figures from the older state (a lost update
    that stayed until some later event touched the rows). Holding one transaction-level advisory lock
    from before the first read, each writer reads after the previous one committed; a change committed
    while it runs has its own event, whose merge waits for it and recomputes what the change touches.
    SQLite needs nothing: every transaction starts with BEGIN IMMEDIATE, the database's one write lock.
    """
    advisory_xact_lock(session, ROLLUP_LOCK_KEY)


def rebuild_all(session: Session, *, progress: Callable[[int, int], None] | None = None) -> int:
    """Recompute the rollup of every current declaration from scratch; returns how many.

    Reads no stored row, so a row of another format, or one that no reader can parse (NaN or Infinity,
    which SQLite took before a figure out of range was stored as null), is replaced, never read.
    Merges the declarations children first, `REBUILD_BATCH` at a time (a cycle group whole), each batch
    over the figures the batches before it computed: the same figures as merging all at once. Memory
    holds the graph (each current declaration's id, issuer and part number, and what its components
    resolve to), one batch, and the figures of declarations whose parents are not all merged yet; not
    every declaration's figures. Calls `progress(done, total)` after each batch. Superseded declarations
    are left alone (their view is computed when it is read; `remove_superseded_rollups` deletes their
    rows). Takes the rollup lock (`_lock_rollups`) first; flushes.
    """
    _lock_rollups(session)
    done = 0
    # The graph and the figures kept for parents stay in memory throughout: left running, the collector
    # walked them again and again, which cost a third of the rebuild's time, and found next to no garbage.
    with _gc_paused():
        current, children = _current_graph(session)
        # How many parents not merged yet list each declaration, and the figures that those still need.
        waiting = Counter(child for targets in children.values() for child in set(targets))
        known: dict[str, Figures] = {}
        for batch in _rebuild_batches(children):
            loaded = _Loaded(facts=_load_facts(session, batch), current=current, known=known)
            _add_request_statuses(session, loaded, loaded.facts.values())
            figures, datas = _compute_figures(loaded)
            _upsert(session, datas)
            known.update((i, figures[i]) for i in figures if waiting[i])
            for declaration_id in batch:
                for child in set(children[declaration_id]):
                    waiting[child] -= 1
                    if not waiting[child]:
                        known.pop(child, None)
            done += len(datas)
            if progress is not None:
                progress(done, len(children))
    return done


def _current_graph(session: Session) -> tuple[dict[tuple[int, str], str], dict[str, list[str]]]:
    """The current declaration of each (issuer, part number), and the declarations that the components
    of each current declaration resolve to.

    One statement, so that it is one committed state: `rebuild_all` resolves components through it
    alone, never through a declaration committed since. Streamed, and every id held once however many
    components name it: only the graph stays in memory.
    """
    current: dict[tuple[int, str], str] = {}
    children: dict[str, list[str]] = {}
    ids: dict[str, str] = {}
    for declaration_id, issuer_id, part, child_id in session.execute(
        _CURRENT_GRAPH, execution_options={"yield_per": 10_000}
    ):
        declaration_id = ids.setdefault(declaration_id, declaration_id)
        targets = children.get(declaration_id)
        if targets is None:
            targets = children[declaration_id] = []
            current[(issuer_id, part)] = declaration_id
        if child_id is not None:
            targets.append(ids.setdefault(child_id, child_id))
    return current, children


def _rebuild_batches(children: dict[str, list[str]]) -> list[list[str]]:
    """The declarations of `children` (declaration -> the declarations its components resolve to) in
    batches of about `REBUILD_BATCH`, children before parents and a cycle group never split.

    The search starts at the tops (declarations nobody lists), so that a part follows its own subtree:
    the figures of a child are then dropped soon after it is merged, once its parents are merged too.
    """
    listed = {child for targets in children.values() for child in targets}
    tops_first = {i: children[i] for i in children if i not in listed}
    tops_first.update(children)
    batches: list[list[str]] = []
    for members in merge.strongly_connected_components(tops_first):
        if not batches or len(batches[-1]) >= REBUILD_BATCH:
            batches.append([])
        batches[-1] += members
    return batches


def remove_superseded_rollups(session: Session) -> int:
    """Delete the rollup rows of declarations that are no longer current; returns how many.

    Nothing reads them: nothing resolves to a superseded declaration, and its view is computed when it is
    read. They stay behind when a declaration is superseded (or when an event for it arrives after that),
    and may hold what an older release wrote. Takes the rollup lock (`_lock_rollups`) first.
    """
    _lock_rollups(session)
    return len(session.scalars(_DELETE_SUPERSEDED_ROLLUPS).all())


def require_rollup(session: Session, declaration_id: str) -> dict[str, Any]:
    """The materialised `Rollup.data` of a declaration, computed (not stored) when missing or stale.

    A superseded declaration's data is computed on every call (nothing keeps it current). Raises
    NotFoundError when the declaration does not exist. Writes nothing.
    """
    declaration = session.get(Declaration, declaration_id)
    if declaration is None:
        raise NotFoundError("no such declaration")
    data = None
    if declaration.is_current:
        data = stored_rollup_data(session, [declaration.id]).get(declaration.id)
    if data is None:
        data = _compute(_close_over(session, {declaration.id}))[declaration.id]
    return data


# The merge's statements, built once at import: the merge consumer runs them for every batch of
# events, and building them per call (aliases, column collections, the recursive query) cost it about
# as much CPU as running them. Their expanding parameters take one chunk (`chunks`) at a time.

#: The requesters' current declarations whose components name their request's supplier and part, for
#: the requests "request_ids" (unknown ids find nothing).
_DECLARATIONS_LISTING_REQUESTS = (
    select(DeclarationComponent.declaration_id)
    .join(Declaration, Declaration.id == DeclarationComponent.declaration_id)
    .join(
        DisclosureRequest,
        and_(
            DisclosureRequest.requester_id == Declaration.issuer_id,
            DisclosureRequest.supplier_id == DeclarationComponent.supplier_id,
            DisclosureRequest.part_number == DeclarationComponent.part_number,
        ),
    )
    .where(DisclosureRequest.id.in_(bindparam("request_ids", expanding=True)), Declaration.is_current)
)
#: The declarations "ids".
_DECLARATION_ROWS = select(
    Declaration.id, Declaration.issuer_id, Declaration.part_number, Declaration.payload
).where(Declaration.id.in_(bindparam("ids", expanding=True)))
#: The components of the declarations "ids", in order.
_COMPONENT_ROWS = (
    select(
        DeclarationComponent.declaration_id,
        DeclarationComponent.part_number,
        DeclarationComponent.supplier_id,
        DeclarationComponent.quantity,
        DeclarationComponent.request_disclosure,
        DeclarationComponent.disclose_to,
    )
    .where(DeclarationComponent.declaration_id.in_(bindparam("ids", expanding=True)))
    .order_by(DeclarationComponent.declaration_id, DeclarationComponent.position)
)
#: The current declarations of the (issuer, part number) pairs "keys".
_CURRENT_DECLARATIONS = select(Declaration.id, Declaration.issuer_id, Declaration.part_number).where(
    Declaration.is_current,
    tuple_(Declaration.issuer_id, Declaration.part_number).in_(bindparam("keys", expanding=True)),
)
#: The key and status of every request for the (requester, supplier, part number) keys "keys", oldest
#: first.
_KEYED_REQUEST_STATUSES = (
    select(
        DisclosureRequest.requester_id,
        DisclosureRequest.supplier_id,
        DisclosureRequest.part_number,
        DisclosureRequest.status,
    )
    .where(
        tuple_(
            DisclosureRequest.requester_id, DisclosureRequest.supplier_id, DisclosureRequest.part_number
        ).in_(bindparam("keys", expanding=True))
    )
    .order_by(DisclosureRequest.created_at, DisclosureRequest.id)
)
#: The stored format and figures of the rollups of "ids".
_STORED_FIGURES = select(
    Rollup.declaration_id,
    Rollup.data["format"].as_integer(),
    Rollup.data["rollup"],
    Rollup.data["coverage"],
).where(Rollup.declaration_id.in_(bindparam("ids", expanding=True)))


def _current_graph_statement() -> Select[str, int, str, str]:
    """Every current declaration (id, issuer, part number) with the current declaration each of its
    components resolves to: one row per component, null for a gap (or a declaration without any)."""
    child = aliased(Declaration)
    return (
        select(Declaration.id, Declaration.issuer_id, Declaration.part_number, child.id)
        .outerjoin(DeclarationComponent, DeclarationComponent.declaration_id == Declaration.id)
        .outerjoin(
            child,
            and_(
                child.issuer_id == DeclarationComponent.supplier_id,
                child.part_number == DeclarationComponent.part_number,
                child.is_current,
            ),
        )
        .where(Declaration.is_current)
    )


def _current_ancestors_statement() -> Select[str]:
    """The ids "ids" of current declarations and the ids of every current declaration above them."""
    parent = aliased(Declaration)
    up = (
        select(Declaration.id, Declaration.issuer_id, Declaration.part_number)
        .where(Declaration.id.in_(bindparam("ids", expanding=True)), Declaration.is_current)
        .cte("up", recursive=True)
    )
    up = up.union(
        select(parent.id, parent.issuer_id, parent.part_number)
        .join(DeclarationComponent, DeclarationComponent.declaration_id == parent.id)
        .join(
            up,
            and_(
                DeclarationComponent.supplier_id == up.c.issuer_id,
                DeclarationComponent.part_number == up.c.part_number,
            ),
        )
        .where(parent.is_current)
    )
    return select(up.c.id)


def _upsert_statement(insert: Any) -> Any:
    """The rollup rows' upsert built with `insert`, a dialect's: both dialects' Insert have the same
    on_conflict_do_update(), but the two classes share no base with it."""
    table = cast(Table, Rollup.__table__)
    upsert = insert(table)
    return upsert.on_conflict_do_update(
        index_elements=[table.c.declaration_id],
        set_={
            "data": upsert.excluded.data,
            "computed_at": upsert.excluded.computed_at,
            "generation": table.c.generation + 1,
        },
    )


_CURRENT_ANCESTORS = _current_ancestors_statement()
_CURRENT_GRAPH = _current_graph_statement()
_DELETE_SUPERSEDED_ROLLUPS = (
    delete(Rollup)
    .where(Rollup.declaration_id.in_(select(Declaration.id).where(~Declaration.is_current)))
    .returning(Rollup.declaration_id)
)
_UPSERT_POSTGRESQL = _upsert_statement(postgresql_insert)
_UPSERT_SQLITE = _upsert_statement(sqlite_insert)


@dataclass
class _Loaded:
    """Declarations to merge, with what their components resolve against and the children's figures."""

    facts: dict[str, DeclarationFacts]
    current: dict[tuple[int, str], str] = field(default_factory=dict)
    requests: dict[tuple[int, int, str], str] = field(default_factory=dict)
    #: Figures "as root" of children outside `facts`.
    known: dict[str, Figures] = field(default_factory=dict)


def _close_over(session: Session, seeds: set[str]) -> _Loaded:
    """Load `seeds`, their current ancestors, and children without a stored rollup, to a fixpoint.

    The closure is what makes the merge exact: the strongly connected component of a declaration only
    holds its ancestors, so every SCC touched lies inside the loaded set, and a child outside it with a
    stored rollup is in no loaded SCC, so its stored figures "as root" are the right ones. Usually one
    round: a recursive query for the ancestors, then the facts, resolutions and children's figures.
    """
    loaded = _Loaded(facts={})
    frontier = set(seeds)
    while frontier:
        wanted = (frontier | _current_ancestors(session, frontier)) - loaded.facts.keys()
        new = _load_facts(session, wanted)
        loaded.facts.update(new)
        _add_resolution_data(session, loaded, new.values())
        outside = _targets(loaded, new.values()) - loaded.facts.keys() - loaded.known.keys()
        stored = _stored_figures(session, outside)
        loaded.known.update(stored)
        frontier = outside - stored.keys()
    return loaded


def _targets(loaded: _Loaded, facts: Iterable[DeclarationFacts]) -> set[str]:
    """The declarations that the components of `facts` resolve to through `loaded.current`."""
    return {
        target
        for f in facts
        for component in f.components
        if component.supplier_id is not None
        and (target := loaded.current.get((component.supplier_id, component.part_number))) is not None
    }


def _store(session: Session, loaded: _Loaded) -> None:
    """Merge the loaded declarations and upsert their rollup rows."""
    _upsert(session, _compute(loaded))


def _compute(loaded: _Loaded) -> dict[str, dict[str, Any]]:
    """Merge the loaded declarations; their rollup data (`Rollup.data`) by id."""
    return _compute_figures(loaded)[1]


def _compute_figures(loaded: _Loaded) -> tuple[dict[str, Figures], dict[str, dict[str, Any]]]:
    """Merge the loaded declarations; their figures "as root" and their rollup data, by id."""
    graph = ChainGraph(loaded.facts, loaded.current, loaded.requests)
    merger = Merger(graph, loaded.known)
    datas: dict[str, dict[str, Any]] = {}
    with _gc_paused():
        computed = merger.compute_all()
    for over_large in sorted({g for g in merger.cycle_group.values() if merger.capped(g)}, key=min):
        log.warning(
            "cycle group of %d declarations (%s, ...) is over-large: its components into the group "
            "count as cycle gaps",
            len(over_large),
            min(over_large),
        )
    for declaration_id, figures in computed.items():
        facts = loaded.facts[declaration_id]
        group = merger.cycle_group.get(declaration_id)
        datas[declaration_id] = {
            "format": ROLLUP_FORMAT,
            "declaration_id": declaration_id,
            "issuer_id": facts.issuer_id,
            "part_number": facts.part_number,
            **merge.figures_to_data(figures),
            "children": [
                {
                    "part_number": component.part_number,
                    "supplier_id": component.supplier_id,
                    "supplier_name": component.supplier_name,
                    "supplier_country": component.supplier_country,
                    "quantity": component.quantity,
                    "disclose_to": component.disclose_to,
                    "declaration_id": resolution.declaration_id,
                    "gap": resolution.gap,
                }
                for component, resolution in merger.resolutions(declaration_id)
            ],
            "cycle_group": sorted(group) if group else None,
            "cycle_group_capped": group is not None and merger.capped(group),
        }
    return computed, datas


def _upsert(session: Session, datas: dict[str, dict[str, Any]]) -> None:
    """Insert or update the rollup rows of `datas` in one statement per batch, bumping `generation`."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    statement = _UPSERT_POSTGRESQL if postgresql else _UPSERT_SQLITE
    now = utcnow()
    # No two writers hold row locks at once (`_lock_rollups`), so the rows' order cannot deadlock.
    rows = [
        {"declaration_id": declaration_id, "data": data, "computed_at": now, "generation": 1}
        for declaration_id, data in datas.items()
    ]
    for batch in chunks(rows):
        session.execute(statement, batch)
    # The statement bypasses the identity map: Rollup objects loaded earlier must not keep old figures.
    for instance in list(session.identity_map.values()):
        if isinstance(instance, Rollup) and instance.declaration_id in datas:
            session.expire(instance)


def _load_facts(session: Session, ids: Collection[str]) -> dict[str, DeclarationFacts]:
    """The merge's view of the declarations `ids` (unknown ids left out)."""
    rows: dict[str, tuple[int, str, dict[str, Any]]] = {}
    components: dict[str, list[tuple[Any, ...]]] = {}
    for chunk in chunks(ids):
        for declaration_id, issuer_id, part, payload in session.execute(_DECLARATION_ROWS, {"ids": chunk}):
            rows[declaration_id] = (issuer_id, part, payload)
        for row in session.execute(_COMPONENT_ROWS, {"ids": chunk}):
            components.setdefault(row[0], []).append(row[1:])
    return {
        declaration_id: _facts(declaration_id, issuer_id, part, payload, components.get(declaration_id, []))
        for declaration_id, (issuer_id, part, payload) in rows.items()
    }


def _facts(
    declaration_id: str, issuer_id: int, part: str, payload: dict[str, Any], rows: list[tuple[Any, ...]]
) -> DeclarationFacts:
    materials = tuple(merge.MaterialLine.from_payload(line) for line in payload.get("materials", []))
    # Component rows carry the resolved supplier id; the payload keeps who an unregistered supplier is.
    named = payload.get("components", [])
    components = tuple(
        merge.Component(
            part_number=part_number,
            supplier_id=supplier_id,
            quantity=quantity,
            request_disclosure=request_disclosure,
            disclose_to=disclose_to,
            supplier_name=named[i].get("supplier_name") if i < len(named) else None,
            supplier_country=named[i].get("supplier_country") if i < len(named) else None,
        )
        for i, (part_number, supplier_id, quantity, request_disclosure, disclose_to) in enumerate(rows)
    )
    return DeclarationFacts(declaration_id, issuer_id, part, materials, components)


def _add_resolution_data(session: Session, loaded: _Loaded, facts: Iterable[DeclarationFacts]) -> None:
    """Fill `loaded.current` and `loaded.requests` for the components of `facts`."""
    facts = list(facts)
    pairs = {
        (c.supplier_id, c.part_number) for f in facts for c in f.components if c.supplier_id is not None
    } - loaded.current.keys()
    for chunk in chunks(pairs):
        for declaration_id, issuer_id, part in session.execute(_CURRENT_DECLARATIONS, {"keys": chunk}):
            loaded.current[(issuer_id, part)] = declaration_id
    _add_request_statuses(session, loaded, facts)


def _add_request_statuses(session: Session, loaded: _Loaded, facts: Iterable[DeclarationFacts]) -> None:
    """Fill `loaded.requests` for the components of `facts` that resolve to no declaration in
    `loaded.current`: the latest request decides the kind of their gap."""
    triples = {
        (f.issuer_id, c.supplier_id, c.part_number)
        for f in facts
        for c in f.components
        if c.supplier_id is not None and (c.supplier_id, c.part_number) not in loaded.current
    } - loaded.requests.keys()
    for chunk in chunks(triples):
        for requester_id, supplier_id, part, status in session.execute(
            _KEYED_REQUEST_STATUSES, {"keys": chunk}
        ):
            loaded.requests[(requester_id, supplier_id, part)] = status  # oldest first: the latest wins


def _current_ancestors(session: Session, ids: Collection[str]) -> set[str]:
    """The current declarations among `ids` and every current declaration above them, in one query.

    A declaration is above another when one of its components names the other's (issuer, part number),
    transitively. Nothing resolves to a superseded declaration, so only current ones have ancestors.
    """
    found: set[str] = set()
    for chunk in chunks(ids):
        found.update(session.scalars(_CURRENT_ANCESTORS, {"ids": chunk}))
    return found


def stored_rollup_data(session: Session, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """Stored rollup data of `ids` in the current format (rows of another format count as missing)."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        for declaration_id, data in session.execute(
            select(Rollup.declaration_id, Rollup.data).where(Rollup.declaration_id.in_(chunk))
        ):
            if data.get("format") == ROLLUP_FORMAT:
                found[declaration_id] = data
    return found


class _ViewPartsCache:
    """Parsed view parts of rollup rows, kept per process and keyed by the row's version.

    Decoding the rollups' JSON is most of the cost of a large view, and the rows change only when the
    merge recomputes them: a row is re-read when its (generation, computed_at) differs from the cached
    one. Values are shared between views: treat them as read-only.
    """

    def __init__(self, limit: int = 100_000):
        self.limit = limit
        self.rows: dict[tuple[str, str], tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def get(self, database: str, declaration_id: str, version: tuple[Any, ...]) -> dict[str, Any] | None:
        cached = self.rows.get((database, declaration_id))
        return cached[1] if cached is not None and cached[0] == version else None

    def put(
        self, database: str, declaration_id: str, version: tuple[Any, ...], parts: dict[str, Any]
    ) -> None:
        if len(self.rows) >= self.limit:
            self.rows.clear()  # crude, but bounded; a busy portal refills what it reads
        self.rows[(database, declaration_id)] = (version, parts)


_view_parts_cache = _ViewPartsCache()


def _view_parts(session: Session, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """What the chain view reads of each rollup row: issuer, resolved children, cycle group, API rollup,
    and the unit of the declaration's part (declarations never change, so caching it with the row is
    safe).

    Decoded parts are reused from the per-process cache while the row is unchanged; only changed rows
    are fetched and decoded. Rows of another format are left out.
    """
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    found: dict[str, dict[str, Any]] = {}
    stale: list[str] = []
    for chunk in chunks(ids):
        for declaration_id, generation, computed_at in session.execute(
            select(Rollup.declaration_id, Rollup.generation, Rollup.computed_at).where(
                Rollup.declaration_id.in_(chunk)
            )
        ):
            parts = _view_parts_cache.get(database, declaration_id, (generation, computed_at))
            if parts is None:
                stale.append(declaration_id)
            else:
                found[declaration_id] = parts
    for chunk in chunks(stale):
        # The whole document as text, decoded here by orjson: several times faster than extracting
        # the parts in SQL and decoding each with the json module (the driver's default).
        for declaration_id, generation, computed_at, text, unit in session.execute(
            select(
                Rollup.declaration_id,
                Rollup.generation,
                Rollup.computed_at,
                Rollup.data.cast(Text),
                _PART_UNIT,
            )
            .join(Declaration, Declaration.id == Rollup.declaration_id)
            .where(Rollup.declaration_id.in_(chunk))
        ):
            data = orjson.loads(text)
            if data.get("format") != ROLLUP_FORMAT:
                continue
            parts = _parts(data, unit)
            _view_parts_cache.put(database, declaration_id, (generation, computed_at), parts)
            found[declaration_id] = parts
    return found


def _parts(data: dict[str, Any], unit: str | None) -> dict[str, Any]:
    """The view parts of a rollup's data; `unit` is its declaration's `part.unit` (None when absent)."""
    return {
        "unit": unit or "piece",  # the payload schema's default
        "issuer_id": data["issuer_id"],
        "cycle_group": data["cycle_group"],
        # Rows written before over-large groups were capped lack the key; their groups are exact.
        "cycle_group_capped": data.get("cycle_group_capped", False),
        "children": data["children"],
        "rollup": merge.public_rollup(data["rollup"]),
    }


def _required_view_parts(session: Session, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """`_view_parts` of `ids`, computing (not storing) the rows that are missing.

    Also returns the parts of the other declarations computed on the way (missing descendants and the
    ancestors merged with them), so that a caller reading further down need not compute them again.
    """
    found = _view_parts(session, ids)
    missing = set(ids) - found.keys()
    if missing:
        # Only when an event is still on its way: compute now rather than show a hole.
        computed = _compute(_close_over(session, missing))
        fresh = computed.keys() - found.keys()
        units = _part_units(session, fresh)
        found.update({i: _parts(computed[i], units.get(i)) for i in fresh})
    return found


def _part_units(session: Session, ids: Collection[str]) -> dict[str, str | None]:
    """The `part.unit` of each declaration of `ids` (None when its payload has none)."""
    units: dict[str, str | None] = {}
    for chunk in chunks(ids):
        rows = session.execute(select(Declaration.id, _PART_UNIT).where(Declaration.id.in_(chunk)))
        units.update((declaration_id, unit) for declaration_id, unit in rows)
    return units


def resolved_children(session: Session, ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
    """What the components of each declaration of `ids` resolve to: its rollup's `children`.

    In component order, each `{"part_number", "supplier_id", "supplier_name", "supplier_country",
    "quantity", "disclose_to", "declaration_id", "gap"}`; shared with the chain views' cache, so
    read-only. Rows that are missing are computed, not stored.
    """
    return {i: parts["children"] for i, parts in _required_view_parts(session, ids).items() if i in ids}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large structure is built.

    A view or a merge allocates tens of thousands of dicts that all live until it returns; without
    this, the generational collector walks them (and every cached rollup) again and again, which cost
    more than building the view. Nothing built here is cyclic garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _stored_figures(session: Session, ids: Collection[str]) -> dict[str, Figures]:
    """Stored figures of `ids` (rows of another format count as missing); reads no `children`."""
    found: dict[str, Figures] = {}
    for chunk in chunks(ids):
        for declaration_id, fmt, rollup, coverage in session.execute(_STORED_FIGURES, {"ids": chunk}):
            if fmt == ROLLUP_FORMAT:
                found[declaration_id] = merge.figures_from_data({"rollup": rollup, "coverage": coverage})
    return found


# --- the chain view ---------------------------------------------------------------------------------------


def chain_view(
    session: Session,
    declaration_id: str,
    viewer: Organization,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    depth: int | None = None,
    via: str | None = None,
) -> dict[str, Any]:
    """The chain of a root declaration as DESIGN.md's chain view, redacted for `viewer`.

    Lists nodes breadth first (parents before children), at most `max_nodes` of them and none deeper
    than tier `depth`, and says `"truncated": true` when it left any out; `rollup` and `coverage` are
    always complete. Figures come from the materialised rollups (computed, not stored, when missing; a
    superseded root is recomputed over its own contents and carries `superseded_by`). A read by the
    authority flushes an `AuditLogEntry` ("chain.read"; `via` says which tool read it). Raises
    NotFoundError when the declaration does not exist or the viewer may not see it (only its issuer,
    its customers and the authority may), RuleViolationError for `max_nodes` < 1 or `depth` < 0.
    """
    problems = {}
    if max_nodes < 1:
        problems["max_nodes"] = "must be at least 1"
    if depth is not None and depth < 0:
        problems["depth"] = "must be at least 0"
    if problems:
        raise RuleViolationError("bad chain view parameters", details=problems)
    if viewer.kind not in ("company", "authority"):
        raise NotFoundError("no such declaration")
    root = require_readable_declaration(session, viewer, declaration_id)
    with _gc_paused():
        view = _ChainView(session, viewer, root, max_nodes, depth, figures=True).build()
    if viewer.kind == "authority":
        session.add(
            AuditLogEntry(
                organization_id=viewer.id,
                action="chain.read",
                subject=root.id,
                details={
                    "viewer": viewer.slug,
                    "nodes": len(view["nodes"]),
                    "truncated": view["truncated"],
                    "max_nodes": max_nodes,
                    "depth": depth,
                    "via": via,
                },
            )
        )
        session.flush()
    return view


def chain_tree(
    session: Session, declaration_id: str, *, max_nodes: int = DEFAULT_MAX_NODES
) -> dict[str, Any]:
    """The tree of a declaration as the authority's chain view lists it, without per-node figures.

    `{"root", "nodes", "truncated"}`: the nodes `chain_view` gives the authority (breadth first, every
    supplier shown, a component re-entering its path or its over-large cycle group a "cycle" gap),
    each without its `rollup`. For callers that need the structure only (the audit): rendering every
    node's figures, path-dependent ones inside cycles included, would cost more than they use. Nobody
    is checked and nothing is audit-logged: the caller answers for both. Rollups that are missing are
    computed, not stored. Raises NotFoundError when the declaration does not exist.
    """
    root = session.get(Declaration, declaration_id)
    if root is None:
        raise NotFoundError("no such declaration")
    with _gc_paused():
        return _ChainView(session, None, root, max_nodes, None, figures=False).build()


@dataclass
class _Entry:
    """A declaration node waiting to have its children listed."""

    index: int
    declaration_id: str
    tier: int
    quantity_in_root: float
    #: The viewer issues a declaration strictly above this node on the path from the root.
    viewer_above: bool


class _ChainView:
    """Unfolds a chain breadth first; with no viewer nothing is redacted; without `figures`, no rollups."""

    def __init__(
        self,
        session: Session,
        viewer: Organization | None,
        root: Declaration,
        max_nodes: int,
        depth: int | None,
        *,
        figures: bool,
    ):
        self.session = session
        self.viewer_id = viewer.id if viewer is not None else None
        self.authority = viewer is None or viewer.kind == "authority"
        self.root = root
        self.max_nodes = max_nodes
        self.depth = depth
        self.figures = figures
        self.data: dict[str, dict[str, Any]] = {}
        self.nodes: list[dict[str, Any]] = []
        #: Per node: its parent's index and its declaration id (None for gaps), to walk paths up.
        self.parents: list[int | None] = []
        self.node_declarations: list[str | None] = []
        self.mergers: dict[frozenset[str], Merger] = {}
        self.truncated = False
        #: Organisation id -> the node's supplier object, shared by the nodes it supplies and filled in
        #: by one query at the end.
        self.suppliers: dict[int, dict[str, Any]] = {}
        #: A quantity -> its API form, and a quantity in root -> its API form (rounded): few distinct
        #: values repeat across tens of thousands of nodes.
        self.quantities: dict[float, int | float] = {}
        self.quantities_in_root: dict[float, int | float | None] = {}

    def build(self) -> dict[str, Any]:
        root = self.root
        root_data = require_rollup(self.session, root.id)
        self.data[root.id] = _parts(root_data, root.payload.get("part", {}).get("unit"))
        root_rollup = self.data[root.id]["rollup"]
        self._add_root()
        self._unfold(_Entry(0, root.id, 0, 1.0, False))
        self._fill_suppliers()
        if not self.figures:
            return {"root": root.id, "nodes": self.nodes, "truncated": self.truncated}
        view: dict[str, Any] = {
            "root": root.id,
            "rollup": root_rollup,
            "coverage": merge.public_coverage(root_data["coverage"]),
            "nodes": self.nodes,
            "truncated": self.truncated,
        }
        if root.superseded_by_id is not None:
            view["superseded_by"] = root.superseded_by_id
        return view

    def _unfold(self, root_entry: _Entry) -> None:
        level = [root_entry]
        while level:
            self._load(entry.declaration_id for entry in level)
            self._fill(level)
            customer_of = self._customer_of(level)
            next_level: list[_Entry] = []
            for entry in level:
                if not self._expand(entry, customer_of, next_level):
                    self.truncated = True
                    # Listed but never expanded: their own units (and rollups) are still shown.
                    self._load(e.declaration_id for e in next_level)
                    self._fill(next_level)
                    return
            level = next_level

    def _expand(self, entry: _Entry, customer_of: set[str], next_level: list[_Entry]) -> bool:
        """List the children of one declaration node; False when the node budget ran out.

        This loop runs once per node of views of tens of thousands of nodes: it stays flat on purpose.
        """
        data = self.data[entry.declaration_id]
        children = data["children"]
        if not children:
            return True
        tier = entry.tier + 1
        if self.depth is not None and tier > self.depth:
            self.truncated = True
            return True
        nodes, parents, node_declarations = self.nodes, self.parents, self.node_declarations
        suppliers, quantities, quantities_in_root = self.suppliers, self.quantities, self.quantities_in_root
        max_nodes, authority, viewer_id = self.max_nodes, self.authority, self.viewer_id
        figures = self.figures
        lister_id = data["issuer_id"]
        group = set(data["cycle_group"] or ())
        capped = data["cycle_group_capped"]
        is_customer = entry.declaration_id in customer_of
        child_above = entry.viewer_above or lister_id == viewer_id
        parent_index, parent_name = entry.index, f"n{entry.index}"
        for child in children:
            index = len(nodes)
            if index >= max_nodes:
                return False
            target = child["declaration_id"]
            gap = child["gap"]
            # Only a child in the node's own cycle group (or the node itself) can be on its path; in an
            # over-large group every member counts as on it.
            reenters = target is not None and (target == entry.declaration_id or target in group)
            if reenters and (capped or target in self._path(parent_index)):
                target, gap = None, "cycle"
            supplier_id = child["supplier_id"]
            visible = authority or merge.may_see_supplier(
                viewer_id=viewer_id,
                viewer_is_authority=False,
                supplier_id=supplier_id,
                lister_id=lister_id,
                disclose_to=child["disclose_to"],
                viewer_is_lister_customer=is_customer,
                viewer_is_above_lister=entry.viewer_above,
            )
            supplier: dict[str, Any] | None = None
            undisclosed = not visible
            if supplier_id is not None:
                if visible:
                    supplier = suppliers.get(supplier_id)
                    if supplier is None:
                        supplier = suppliers[supplier_id] = {}
            else:
                named = child["supplier_name"] is not None or child["supplier_country"] is not None
                # Nothing to hide when the issuer did not say who the supplier is.
                undisclosed = named and not visible
                supplier = (
                    {"slug": None, "name": child["supplier_name"], "country": child["supplier_country"]}
                    if named and visible
                    else None
                )
            quantity = child["quantity"]
            shown_quantity = quantities.get(quantity)
            if shown_quantity is None:
                shown_quantity = quantities[quantity] = whole_as_int(quantity)
            quantity_in_root = entry.quantity_in_root * quantity
            if quantity_in_root not in quantities_in_root:
                # Out of range (None) like a gram figure: deep enough, huge quantities overflow too.
                rounded = merge.json_grams(quantity_in_root)
                quantities_in_root[quantity_in_root] = None if rounded is None else whole_as_int(rounded)
            shown_in_root = quantities_in_root[quantity_in_root]
            node: dict[str, Any] = {
                "id": f"n{index}",
                "parent": parent_name,
                "tier": tier,
                "kind": "gap" if target is None else "declaration",
                "declaration_id": target if visible else None,
                "gap": gap,
                "supplier": supplier,
                "undisclosed": undisclosed,
                "part_number": child["part_number"] if visible else None,
                "quantity": shown_quantity,
                "quantity_in_root": shown_in_root,
                "unit": None,  # a gap and an undisclosed node keep it null; `_fill` sets the others'
            }
            if figures:
                node["rollup"] = {}  # a gap keeps it empty; `_fill` sets a declaration's
            nodes.append(node)
            parents.append(parent_index)
            node_declarations.append(target)
            if target is not None:
                next_level.append(_Entry(index, target, tier, quantity_in_root, child_above))
        return True

    def _add_root(self) -> None:
        root = self.root
        node: dict[str, Any] = {
            "id": "n0",
            "parent": None,
            "tier": 0,
            "kind": "declaration",
            "declaration_id": root.id,
            "gap": None,
            "supplier": self.suppliers.setdefault(root.issuer_id, {}),
            "undisclosed": False,
            "part_number": root.part_number,
            "quantity": 1,
            "quantity_in_root": 1,
            "unit": self.data[root.id]["unit"],
        }
        if self.figures:
            node["rollup"] = self.data[root.id]["rollup"]
        self.nodes.append(node)
        self.parents.append(None)
        self.node_declarations.append(root.id)

    def _path(self, index: int | None) -> set[str]:
        """Declaration ids on the path from the root to node `index`, both included."""
        path: set[str] = set()
        while index is not None:
            declaration_id = self.node_declarations[index]
            if declaration_id is not None:
                path.add(declaration_id)
            index = self.parents[index]
        return path

    def _fill(self, entries: list[_Entry]) -> None:
        """Set the unit (unless the node is undisclosed: it is the hidden supplier's text) and, with
        figures, the rollup of the declaration nodes of `entries`, whose view parts are loaded."""
        nodes, all_data, figures = self.nodes, self.data, self.figures
        for entry in entries:
            declaration_id = entry.declaration_id
            data = all_data[declaration_id]
            node = nodes[entry.index]
            if not node["undisclosed"]:
                node["unit"] = data["unit"]
            if not figures:
                continue
            group = data["cycle_group"]
            if group:
                path = self._path(entry.index)
                if len(path & set(group)) > 1:
                    # Inside a cycle the figures depend on the path: compute them for this one.
                    merger = self._merger(frozenset(group))
                    node["rollup"] = merge.rollup_view(merger.on_path(declaration_id, frozenset(path)))
                    continue
            node["rollup"] = data["rollup"]

    def _merger(self, group: frozenset[str]) -> Merger:
        merger = self.mergers.get(group)
        if merger is None:
            loaded = _Loaded(facts=_load_facts(self.session, group))
            _add_resolution_data(self.session, loaded, loaded.facts.values())
            exits = set(loaded.current.values()) - group
            loaded.known = _stored_figures(self.session, exits)
            missing = exits - loaded.known.keys()
            if missing:
                computed = _compute(_close_over(self.session, missing))
                loaded.known.update({i: merge.figures_from_data(computed[i]) for i in missing})
            merger = self.mergers[group] = Merger(
                ChainGraph(loaded.facts, loaded.current, loaded.requests), loaded.known
            )
        return merger

    def _load(self, ids: Iterable[str]) -> None:
        """The view parts of the rollups of `ids` into `self.data` (computing missing rows)."""
        wanted = set(ids) - self.data.keys()
        if wanted:
            self.data.update(_required_view_parts(self.session, wanted))

    def _customer_of(self, level: list[_Entry]) -> set[str]:
        """Declarations of this level whose customers include the viewer."""
        if self.authority:
            return set()
        ids = {entry.declaration_id for entry in level}
        customer_of: set[str] = set()
        if self.root.id in ids:
            # The root may be superseded: its customers are those of it and its older versions.
            if self.viewer_id in customer_ids(self.session, self.root):
                customer_of.add(self.root.id)
            ids.discard(self.root.id)
        for chunk in chunks(ids):
            customer_of.update(
                self.session.scalars(
                    select(DisclosureRequest.declaration_id)
                    .where(
                        DisclosureRequest.requester_id == self.viewer_id,
                        DisclosureRequest.declaration_id.in_(chunk),
                    )
                    .distinct()
                )
            )
        return customer_of

    def _fill_suppliers(self) -> None:
        for chunk in chunks(self.suppliers):
            for org_id, slug, name, country in self.session.execute(
                select(Organization.id, Organization.slug, Organization.name, Organization.country).where(
                    Organization.id.in_(chunk)
                )
            ):
                self.suppliers[org_id].update(slug=slug, name=name, country=country)
