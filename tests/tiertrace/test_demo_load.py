"""The ZEEHAVIK demo loaded through the real services and the embedded bus, checked against its own data.

Every expected figure here is computed from tiertrace/demo/zeehavik.json by the pure builder
(`expected_per_ship_rollup`, `unfold`), never from the database: if the services, the bus or the merge
change what the demo shows, these tests fail, and the demo stays true to its data.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import tiertrace.models
from cli.demo import start_demo_bus
from cli.main import main
from tiertrace.chains.models import Rollup
from tiertrace.chains.services import chain_view
from tiertrace.config import Settings
from tiertrace.declarations.models import Declaration
from tiertrace.demo import expected_per_ship_rollup, load_programme, unfold
from tiertrace.demo.loader import DemoClock, DemoSummary, load_demo, plan_timeline
from tiertrace.disclosure.models import DisclosureRequest, Notification
from tiertrace.errors import ConflictError
from tiertrace.organizations.accounts import authenticate_user
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import require_organization

PROGRAMME = load_programme()
ROOT_ID = str(PROGRAMME.root.declaration_uuid)
OEM = PROGRAMME.root.org
AUTHORITY = next(org.slug for org in PROGRAMME.organizations if org.kind == "authority")
GRAPHITE = next(r for r in PROGRAMME.silent_requests if r.expected_status == "overdue")
SEALED = next(r for r in PROGRAMME.silent_requests if r.expected_status == "open")
MAGNET_V2 = PROGRAMME.supersessions[0]
MAGNET_V1 = PROGRAMME.require_filing(MAGNET_V2.supersedes_ref or "")
#: The ship after the supersession, as the chain view shows it once everything is loaded.
EXPECTED_ROLLUP = expected_per_ship_rollup(versions="latest")
EXPECTED_NODES = unfold(versions="latest")


def _relative(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


class Loaded:
    """The demo in the test database, with what the tests read it through."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.summary: DemoSummary | None = None
        self.seconds = 0.0

    def load(self) -> DemoSummary:
        clock = DemoClock()
        bus = start_demo_bus(self.settings, self.session_factory, clock)
        try:
            started = time.monotonic()
            summary = load_demo(self.session_factory, self.settings, drain=lambda: bus.drain(60), clock=clock)
            self.seconds = time.monotonic() - started
        finally:
            bus.stop()
        return summary

    def view(self, session: Session, viewer: str, declaration_id: str = ROOT_ID) -> dict[str, Any]:
        return chain_view(session, declaration_id, require_organization(session, viewer))


@pytest.fixture
def loaded(session_factory: sessionmaker[Session], settings: Settings) -> Iterator[Loaded]:
    demo = Loaded(session_factory, settings)
    demo.summary = demo.load()
    yield demo


def _snapshot(session: Session) -> dict[str, Any]:
    """Row counts of every table, and digests of what the demo's figures and statuses are made of."""
    counts = {
        table.name: session.scalar(select(func.count()).select_from(table))
        for table in tiertrace.models.Base.metadata.sorted_tables
    }

    def digest(rows: Any) -> str:
        return hashlib.sha256(json.dumps([list(r) for r in rows], default=str).encode()).hexdigest()

    return {
        "counts": counts,
        "requests": digest(
            session.execute(
                select(
                    DisclosureRequest.id,
                    DisclosureRequest.status,
                    DisclosureRequest.due_date,
                    DisclosureRequest.declaration_id,
                    DisclosureRequest.reminded_at,
                    DisclosureRequest.escalated_at,
                ).order_by(DisclosureRequest.id)
            )
        ),
        "declarations": digest(
            session.execute(
                select(Declaration.id, Declaration.is_current, Declaration.superseded_by_id).order_by(
                    Declaration.id
                )
            )
        ),
        "rollups": digest(
            session.execute(select(Rollup.declaration_id, Rollup.data).order_by(Rollup.declaration_id))
        ),
    }


def _gap_nodes(view: dict[str, Any], gap: str) -> list[dict[str, Any]]:
    return [node for node in view["nodes"] if node["gap"] == gap]


def test_the_demo_loads_through_the_bus_and_shows_the_figures_its_data_gives(loaded: Loaded) -> None:
    summary = loaded.summary
    assert summary is not None
    companies = len(PROGRAMME.companies)
    assert summary.organizations == companies + 2
    assert summary.declarations == len(PROGRAMME.filings) == summary.declarations_filed
    assert summary.root_declaration_id == ROOT_ID
    assert not summary.already_loaded
    # Every request the bus forwarded for a component that has an answer was answered or linked.
    assert summary.requests_forwarded > len(PROGRAMME.filings)
    print(f"\nZEEHAVIK loaded in {loaded.seconds:.1f} s: {summary.headline}")

    with loaded.session_factory() as session:
        view = loaded.view(session, OEM)
        rollup = view["rollup"]
        # The ship's gallium, and every other material, as walked from the data.
        assert set(rollup) == set(EXPECTED_ROLLUP)
        for material, expected in EXPECTED_ROLLUP.items():
            assert _relative(rollup[material]["mass_g"], expected["mass_g"]), material
        gallium = rollup["Ga"]
        assert _relative(gallium["mass_g"], EXPECTED_ROLLUP["Ga"]["mass_g"])
        cn_share = gallium["processing"]["CN"] / gallium["mass_g"]
        expected_share = EXPECTED_ROLLUP["Ga"]["processing"]["CN"] / EXPECTED_ROLLUP["Ga"]["mass_g"]
        assert _relative(cn_share, expected_share)
        assert cn_share == pytest.approx(1.0)  # P3: one refiner, in China
        # docs/walkthrough.md: most of it in the motors' magnet sets, the rest in the radar's chips.
        gallium_per_tier_1 = {
            node["part_number"]: node["rollup"]["Ga"]["mass_g"] * node["quantity_in_root"]
            for node in view["nodes"]
            if node["tier"] == 1 and "Ga" in node["rollup"]
        }
        assert gallium_per_tier_1 == {
            "EMD-PM3000": pytest.approx(1280.0),
            "HSS-AR4S-100": pytest.approx(17.8, abs=0.05),
        }

        coverage = view["coverage"]
        assert coverage["components_total"] == len(EXPECTED_NODES) - 1
        declared = sum(1 for node in EXPECTED_NODES if node.filing is not None) - 1
        assert coverage["components_declared"] == declared
        assert coverage["max_tier"] == max(n.tier for n in EXPECTED_NODES if n.filing) == 6
        assert summary.headline.components_declared == declared
        assert _relative(summary.headline.ga_mass_g, EXPECTED_ROLLUP["Ga"]["mass_g"])
        assert _relative(summary.headline.ga_refined_cn_share, expected_share)

        # Gap kinds node by node: the data's unknown suppliers, one overdue, one open.
        expected_gaps = sorted(str(n.gap) for n in EXPECTED_NODES if n.gap)
        assert sorted(str(n["gap"]) for n in view["nodes"] if n["gap"]) == expected_gaps

        # P1: the graphite request is overdue (the sweep on the real clock, after the 2025 story),
        # reminded and escalated, and the OEM sees whose it is (Silesia chose "chain").
        (graphite,) = _gap_nodes(view, "overdue")
        assert graphite["supplier"]["slug"] == GRAPHITE.supplier
        request = session.scalars(
            select(DisclosureRequest)
            .join(Organization, Organization.id == DisclosureRequest.supplier_id)
            .where(Organization.slug == GRAPHITE.supplier)
        ).one()
        assert request.status == "overdue"
        assert request.reminded_at is not None and request.escalated_at is not None
        assert request.created_at.year == 2025 and request.due_date is not None
        notified = {
            (kind, slug)
            for kind, slug in session.execute(
                select(Notification.kind, Organization.slug)
                .join(Organization, Organization.id == Notification.organization_id)
                .where(Notification.request_id == request.id)
            )
        }
        assert {("reminder", GRAPHITE.supplier), ("escalation", GRAPHITE.requester)} <= notified

        # P2: "Supplier X" is an undisclosed open gap for the OEM and a named one for the ministry.
        (sealed,) = _gap_nodes(view, "open")
        assert sealed["undisclosed"] is True
        assert sealed["supplier"] is None and sealed["declaration_id"] is None
        assert SEALED.supplier not in json.dumps(view)
        (sealed_for_ministry,) = _gap_nodes(loaded.view(session, AUTHORITY), "open")
        assert sealed_for_ministry["supplier"]["slug"] == SEALED.supplier
        assert sealed_for_ministry["undisclosed"] is False

        # Nothing else is left waiting: every other request was answered.
        silent = {(r.requester, r.supplier, r.part_number) for r in PROGRAMME.silent_requests}
        requester = Organization.__table__.alias("requester")
        supplier = Organization.__table__.alias("supplier")
        waiting = {
            tuple(row)
            for row in session.execute(
                select(requester.c.slug, supplier.c.slug, DisclosureRequest.part_number)
                .join(requester, requester.c.id == DisclosureRequest.requester_id)
                .join(supplier, supplier.c.id == DisclosureRequest.supplier_id)
                .where(DisclosureRequest.status != "answered")
            )
        }
        assert waiting == silent

        # P4: the magnet's first version still reads, pointing at the version that replaced it.
        v1_id, v2_id = str(MAGNET_V1.declaration_uuid), str(MAGNET_V2.declaration_uuid)
        old = session.get(Declaration, v1_id)
        assert old is not None and old.is_current is False and old.superseded_by_id == v2_id
        assert loaded.view(session, AUTHORITY, v1_id)["superseded_by"] == v2_id
        in_ship = {n["declaration_id"] for n in loaded.view(session, AUTHORITY)["nodes"]}
        assert v2_id in in_ship and v1_id not in in_ship

        # The three personas log in with the demo password.
        for login in summary.logins:
            user = authenticate_user(session, login.email, login.password, address="127.0.0.1")
            assert session.get(Organization, user.organization_id).slug == login.organization
        session.rollback()

    # Loading twice changes nothing, and says so.
    with loaded.session_factory() as session:
        before = _snapshot(session)
    again = loaded.load()
    with loaded.session_factory() as session:
        after = _snapshot(session)
    assert again.already_loaded
    assert (again.declarations_filed, again.organizations_created, again.requests_sent) == (0, 0, 0)
    assert after == before
    assert again.headline == summary.headline


def test_the_demo_refuses_to_take_over_an_organisation_it_did_not_create_and_writes_nothing(
    session_factory: sessionmaker[Session], settings: Settings, make_org: Any
) -> None:
    make_org(OEM, name="Impostor")
    with session_factory() as session:
        before = _snapshot(session)

    with pytest.raises(ConflictError) as refused:
        load_demo(session_factory, settings, drain=lambda: None)

    assert f"{OEM} (Impostor, NL, company)" in refused.value.message
    assert "load the demo into an empty data folder" in refused.value.message.lower()
    with session_factory() as session:
        assert _snapshot(session) == before


def test_the_story_timeline_is_causal_and_files_every_declaration_once() -> None:
    plan = plan_timeline(PROGRAMME)
    refs = [item.ref for item in plan]
    assert sorted(refs) == sorted(f.ref for f in PROGRAMME.filings)
    times = [item.at for item in plan]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert times[0] == PROGRAMME.root.issued_at
    at = dict(zip(refs, times, strict=True))
    for filing in PROGRAMME.filings:
        # Never before being asked (a supplier may answer before its data date: see plan_timeline).
        asked = [
            at[customer.ref]
            for customer in PROGRAMME.filings
            if any(
                c.supplier == filing.org and c.part_number == filing.part_number for c in customer.components
            )
        ]
        if filing.supersedes_ref is None and filing is not PROGRAMME.root:
            assert at[filing.ref] > min(asked), filing.ref
        else:
            assert at[filing.ref] >= filing.issued_at
    assert at[MAGNET_V2.ref] > at[MAGNET_V1.ref]


@pytest.mark.slow
def test_tiertrace_demo_loads_a_fresh_data_folder_and_prints_the_logins(tmp_path: Path) -> None:
    env = {
        "TIERTRACE_DATA_DIR": str(tmp_path / "data"),
        "TIERTRACE_DATABASE_URL": None,
        "TIERTRACE_AMQP_URL": None,
        "TIERTRACE_SECRET_KEY": None,
        "TIERTRACE_BASE_URL": None,
    }
    runner = CliRunner()
    result = runner.invoke(main, ["demo"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (tmp_path / "data" / "tiertrace.sqlite3").exists()
    assert "http://127.0.0.1:8000/" in out
    for persona in PROGRAMME.personas:
        assert persona.email in out
    assert PROGRAMME.personas[0].password in out
    assert f"Root declaration (the ship): {ROOT_ID}" in out
    assert f"tiertrace chain {ROOT_ID}" in out
    assert "overdue" in out

    again = runner.invoke(main, ["demo"], env=env, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "already loaded" in again.stdout
