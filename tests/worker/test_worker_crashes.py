"""Worker processes killed with SIGKILL, again and again, in the middle of a 2,000-declaration run:
not one forwarded request may be lost or made twice.

The test plays every supplier: OEMs declare their products, and each supplier answers the request the
bus forwarded to it, tier after tier, with versions superseded on the way, a refiner's declaration
reused by many customers and self-references mixed in. Two `python -m worker` processes relay and
consume; one of them is killed ten times, spread over the run, and restarted. At the end the forwarded
requests are compared, key for key, with an oracle computed from the declarations alone.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from bus_support import component, count_rows, requires_postgresql
from sqlalchemy import select

from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.outbox.models import OutboxEvent

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

DECLARATIONS = int(os.environ.get("KT_N", "2000"))
KILLS = 10
WORKERS = 2
PER_TIER = 8


class WorkerProcesses:
    """`python -m worker` processes sharing this test's database and broker prefix."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = open(self.log_dir / f"worker-{self.started}.log", "wb")  # noqa: SIM115 (closed in stop_all)
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", "--log-level", "WARNING"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log = log  # type: ignore[attr-defined]  # kept to close it later
        self.processes.append(process)
        return process

    def kill_one(self, rng: random.Random) -> None:
        alive = [p for p in self.processes if p.poll() is None]
        victim = rng.choice(alive)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        self.start()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.log.close()  # type: ignore[attr-defined]


def expected_forwarded_requests(session) -> set[tuple[int, int, str, str | None]]:
    """The oracle: (requester, supplier, part, parent) of every request the rules call for, computed
    from the declarations alone (every version, superseded or not).

    A component that closes a cycle counts too: propagation never asks its supplier again but links
    the supplier's current declaration, which exists, since every (organisation, part) on a request
    path above a declaration has been declared by that organisation."""
    declarations = {d.id: d for d in session.scalars(select(Declaration))}
    components: dict[str, list[DeclarationComponent]] = {}
    for c in session.scalars(select(DeclarationComponent).order_by(DeclarationComponent.position)):
        components.setdefault(c.declaration_id, []).append(c)

    def answered(declaration: Declaration) -> str | None:
        while declaration is not None:
            if declaration.in_response_to:
                return declaration.in_response_to
            declaration = declarations.get(declaration.supersedes_id) if declaration.supersedes_id else None
        return None

    # Versions of one part share their keys: one request serves them all.
    return {
        (declaration.issuer_id, c.supplier_id, c.part_number, answered(declaration))
        for declaration in declarations.values()
        for c in components.get(declaration.id, [])
        if c.supplier_id is not None and c.request_disclosure and c.supplier_id != declaration.issuer_id
    }


def test_killing_workers_ten_times_during_a_2000_declaration_run_loses_and_duplicates_no_forwarded_request(
    broker_settings, database_url, session_factory, make_org, make_payload, submit, tmp_path
):
    requires_postgresql()
    rng = random.Random(20250310)
    tiers = [[make_org(f"t{tier}-{i}") for i in range(PER_TIER)] for tier in range(5)]
    refiner = make_org("refiner")
    by_id = {m.organization.id: m for tier in tiers for m in tier} | {refiner.organization.id: refiner}
    env = {
        **os.environ,
        "TIERTRACE_DATABASE_URL": database_url,
        "TIERTRACE_AMQP_URL": broker_settings.amqp_url,
        "TIERTRACE_BUS_PREFIX": broker_settings.bus_prefix,
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_SECRET_KEY": "test",
    }
    workers = WorkerProcesses(env, tmp_path)
    submitted = 0
    reserved = 0
    progress = threading.Condition()
    kills_done = threading.Event()

    def declare(member, part, **fields) -> Declaration | None:
        """Submit one declaration, unless the run's budget of DECLARATIONS is spent."""
        nonlocal submitted, reserved
        with progress:
            if reserved >= DECLARATIONS:
                return None
            reserved += 1
        declaration = submit(member, make_payload(member.slug, part, **fields))
        with progress:
            submitted += 1
            progress.notify_all()
        return declaration

    def answer(request: DisclosureRequest, self_reference: bool) -> None:
        """A supplier answers a request that reached it: it declares the part, naming its own supplier."""
        supplier = by_id[request.supplier_id]
        part = request.part_number
        tier = int(part.rsplit("-P", 1)[1]) if "-P" in part else 4
        c = int(part.split("-", 1)[0][1:])
        components = []
        if tier < 4:
            components.append(component(tiers[tier + 1][c % PER_TIER].slug, f"C{c}-P{tier + 1}"))
        if tier == 3:
            components.append(component(refiner.slug, "GA-REFINED"))  # reused: linked, not asked
        if self_reference:
            components.append(component(supplier.slug, part))
        v1 = declare(supplier, part, in_response_to=request.id, components=components)
        if v1 is not None and tier == 1 and c % 16 == 0:
            # A new version with one more component; it answers what the old one answered.
            extra = component(tiers[2][(c + 1) % PER_TIER].slug, f"C{c}-EXTRA")
            declare(supplier, part, supersedes=v1.id, components=[*components, extra])

    def killer() -> None:
        # Kill number i once the run is (i + 1) / (KILLS + 1) of the way through.
        for i in range(KILLS):
            with progress:
                progress.wait_for(lambda i=i: submitted >= (i + 1) * DECLARATIONS // (KILLS + 1), timeout=120)
            time.sleep(rng.uniform(0.0, 0.3))
            workers.kill_one(rng)
        kills_done.set()

    # The suppliers answer side by side, as they would; the workers are what is being tested.
    pool = ThreadPoolExecutor(max_workers=4)
    try:
        for _ in range(WORKERS):
            workers.start()
        kill_thread = threading.Thread(target=killer, daemon=True)
        kill_thread.start()

        declare(refiner, "GA-REFINED")
        chain = 0
        in_flight: dict[str, Future] = {}
        deadline = time.monotonic() + 300
        while submitted < DECLARATIONS:
            assert time.monotonic() < deadline, f"the run stalled at {submitted} declarations"
            for request_id in [r for r, f in in_flight.items() if f.done()]:
                in_flight.pop(request_id).result()  # re-raises what went wrong in a supplier thread
            # OEMs keep declaring top-level products while the suppliers answer what reached them.
            while chain < 400 and (chain < 40 or rng.random() < 0.3):
                oem = tiers[0][chain % PER_TIER]
                in_flight[f"chain-{chain}"] = pool.submit(
                    declare,
                    oem,
                    f"C{chain}-P0",
                    program="KILLTEST",
                    components=[
                        component(tiers[1][chain % PER_TIER].slug, f"C{chain}-P1"),
                        component(None, f"C{chain}-FOIL"),
                        component(tiers[1][(chain + 1) % PER_TIER].slug, f"C{chain}-NOASK", request=False),
                    ],
                )
                chain += 1
            with session_factory() as session:
                # Answering marks a request answered in the same transaction, so "open" is what is left.
                pending = session.scalars(
                    select(DisclosureRequest)
                    .where(DisclosureRequest.status == "open")
                    .order_by(DisclosureRequest.created_at)
                    .limit(40)
                ).all()
            fresh = [r for r in pending if r.id not in in_flight]
            for request in fresh:
                in_flight[request.id] = pool.submit(answer, request, rng.random() < 0.05)
            if not fresh:
                time.sleep(0.01)
        for future in in_flight.values():
            future.result()

        kills_done.wait(timeout=120)
        assert kills_done.is_set(), "the killer did not get its ten kills in"
        with session_factory() as session:
            expected = expected_forwarded_requests(session)

        def forwarded() -> Counter:
            with session_factory() as session:
                return Counter(
                    session.execute(
                        select(
                            DisclosureRequest.requester_id,
                            DisclosureRequest.supplier_id,
                            DisclosureRequest.part_number,
                            DisclosureRequest.parent_id,
                        ).where(DisclosureRequest.source_declaration_id.is_not(None))
                    ).all()
                )

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            unsent = count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None))
            if unsent == 0 and set(forwarded()) == expected:
                break
            time.sleep(0.2)
        actual = forwarded()
        assert workers.started == WORKERS + KILLS
        assert len(expected) > DECLARATIONS * 3 // 4
        assert {k: n for k, n in actual.items() if n > 1} == {}, "duplicated forwarded requests"
        assert set(expected) - set(actual) == set(), "lost forwarded requests"
        assert set(actual) - set(expected) == set(), "forwarded requests the rules do not call for"
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        workers.stop_all()
