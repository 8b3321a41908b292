"""Benchmark: the merged chain view of a 10,000-node chain (issue 4).

The chain: a root lists 10 Tier-1 parts, each of those 10 Tier-2 parts, each of those 10 Tier-3 parts,
and each Tier-3 part 10 of 100 shared leaf parts (mines and refiners): 11,111 nodes unfolded from 1,211
declarations, two or three materials each. Setup inserts organisations, keys, declarations and their
components directly (no signing); everything measured is the real service:

* a full rebuild of every rollup (`rebuild_all`), target <= 2 s;
* reading the authority's chain view of the root: `GET /api/v1/chains/{id}` through the portal's WSGI app
  in this process (auth, the view, the audit-log commit, the ~8 MB of JSON), median of the runs, target
  <= 100 ms on SQLite and <= 200 ms on PostgreSQL; and, for comparison, `chain_view` alone;
* the merge after one new leaf declaration (`handle_event("declaration.accepted")` for a signed
  declaration filed with `submit_declaration`), target <= 50 ms; and, for comparison, after a new
  version of a leaf shared by a hundred Tier-3 parts;
* peak memory (tracemalloc peak of the measured calls, and the process's max RSS), goal < 300 MB.

SQLite, and PostgreSQL when TIERTRACE_BENCH_PG_URL or a local server is reachable (the benchmark
creates and drops a database of its own).

    python bench/chain.py [--runs 7] [--fanout 10] [--leaves 100]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from _common import database
from sqlalchemy import insert, select

import migrations
from portal import create_app
from tiertrace import signing
from tiertrace.chains.services import chain_view, handle_event, rebuild_all, refresh_rollups
from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.declarations.services import submit_declaration
from tiertrace.organizations.models import Organization, SigningKey
from tiertrace.organizations.services import create_token, register_key
from tiertrace.outbox.models import OutboxEvent

MATERIALS = ("Ga", "Ge", "W", "Ta", "Co", "Nd", "Dy", "Cu")
COUNTRIES = ("CN", "AU", "CD", "RW", "BR", "FI", "DE", "JP", "CL")
NOW = datetime(2025, 6, 1, tzinfo=UTC)
TIERS = 4


def material_lines(rng: random.Random, count: int) -> list[dict[str, Any]]:
    lines = []
    for code in rng.sample(MATERIALS, count):
        first, second = rng.sample(COUNTRIES, 2)
        lines.append(
            {
                "material": code,
                "mass_g": round(rng.uniform(0.01, 5.0), 3),
                "extraction": [{"country": first, "share": 0.6}, {"country": second, "share": 0.3}],
                "processing": [{"country": first, "share": 0.9, "facility": f"{first} refinery"}],
                "recycled_share": 0.1,
            }
        )
    return lines


def generate(database_url: str, fanout: int, leaves: int, seed: int = 4) -> dict[str, Any]:
    """Insert the chain; returns the ids the measurements need."""
    rng = random.Random(seed)
    migrations.upgrade(database_url)
    organizations: list[dict[str, Any]] = []
    declarations: list[dict[str, Any]] = []
    components: list[dict[str, Any]] = []

    def organization(slug: str, kind: str = "company") -> int:
        organizations.append(
            {"id": len(organizations) + 1, "slug": slug, "name": slug.title(), "country": "NL", "kind": kind}
        )
        return len(organizations)

    def declare(issuer: int, part: str, lines: int, listed: list[tuple[int, str]]) -> str:
        declaration_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        payload = {
            "id": declaration_id,
            "issuer": organizations[issuer - 1]["slug"],
            "issued_at": "2025-03-01T00:00:00Z",
            "in_response_to": None,
            "supersedes": None,
            "program": None,
            "part": {"number": part, "name": part, "unit": "piece"},
            "materials": material_lines(rng, lines),
            "components": [
                {
                    "part_number": p,
                    "supplier": organizations[s - 1]["slug"],
                    "quantity": 2,
                    "request_disclosure": True,
                    "disclose_supplier_to": ["chain"],
                }
                for s, p in listed
            ],
            "statement": "bench",
        }
        declarations.append(
            {
                "id": declaration_id,
                "issuer_id": issuer,
                "keyid": f"ed25519:{issuer:064x}",
                "part_number": part,
                "part_name": part,
                "program": None,
                "is_current": True,
                "envelope": b"{}",
                "envelope_sha256": hashlib.sha256(declaration_id.encode()).hexdigest(),
                "payload": payload,
                "issued_at": NOW,
                "accepted_at": NOW,
            }
        )
        for position, (supplier, p) in enumerate(listed):
            components.append(
                {
                    "declaration_id": declaration_id,
                    "position": position,
                    "part_number": p,
                    "supplier_id": supplier,
                    "quantity": 2.0,
                    "request_disclosure": True,
                    "disclose_to": "chain",
                }
            )
        return declaration_id

    authority = organization("ministry", "authority")
    leaf_orgs = [organization(f"mine-{i}") for i in range(max(1, leaves // 5))]
    leaf_parts = [(leaf_orgs[i % len(leaf_orgs)], f"ORE-{i}") for i in range(leaves)]
    leaf_ids = {part: declare(org, part, 2, []) for org, part in leaf_parts}
    # Built from the top down as (issuer, part); declared from the bottom up.
    tiers: list[list[tuple[int, str]]] = [[(organization("oem"), "SHIP")]]
    for tier in range(1, TIERS):
        tiers.append([])
        for parent_index, _ in enumerate(tiers[tier - 1]):
            for i in range(fanout):
                issuer = organization(f"t{tier}-{parent_index}-{i}") if tier < 3 else None
                tiers[tier].append((issuer or 0, f"T{tier}-{parent_index}-{i}"))
    # Tier-3 parts are made by a hundred firms, ten parts each.
    tier3_orgs = [organization(f"t3-firm-{i}") for i in range(max(1, len(tiers[3]) // 10))]
    tiers[3] = [(tier3_orgs[i % len(tier3_orgs)], part) for i, (_, part) in enumerate(tiers[3])]
    gap_part = "T4-NEW"
    new_leaf_org = leaf_orgs[0]
    ids_by_tier: list[list[str]] = [[] for _ in range(TIERS)]
    for tier in range(TIERS - 1, -1, -1):
        for index, (issuer, part) in enumerate(tiers[tier]):
            if tier == TIERS - 1:
                listed = rng.sample(leaf_parts, fanout)
                if index == 0:
                    listed.append((new_leaf_org, gap_part))  # a gap the measured leaf will fill
            else:
                listed = tiers[tier + 1][index * fanout : (index + 1) * fanout]
            ids_by_tier[tier].append(declare(issuer, part, 1 if tier else 0, listed))

    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        session.execute(insert(Organization), organizations)
        session.execute(
            insert(SigningKey),
            [
                {
                    "keyid": f"ed25519:{o['id']:064x}",
                    "organization_id": o["id"],
                    "public_key": bytes(32),
                    "created_at": NOW,
                }
                for o in organizations
            ],
        )
        for start in range(0, len(declarations), 2000):
            session.execute(insert(Declaration), declarations[start : start + 2000])
        for start in range(0, len(components), 5000):
            session.execute(insert(DeclarationComponent), components[start : start + 5000])
        session.commit()
    engine.dispose()
    shared_leaf = max(leaf_ids, key=lambda part: sum(c["part_number"] == part for c in components))
    return {
        "root": ids_by_tier[0][0],
        "warm_up": ids_by_tier[TIERS - 1][-1],
        "authority": authority,
        "new_leaf_org": new_leaf_org,
        "gap_part": gap_part,
        "shared_leaf": (
            next(o for o, p in leaf_parts if p == shared_leaf),
            shared_leaf,
            leaf_ids[shared_leaf],
        ),
        "declarations": len(declarations),
    }


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def file_leaf(factory: Any, org_id: int, part: str, supersedes: str | None) -> tuple[float, float, int]:
    """File a signed leaf declaration as `org_id` (registering a key for it first).

    Returns the seconds `submit_declaration` took, the seconds the merge consumer took for the
    "declaration.accepted" event, and how many rollups that recomputed.
    """
    private_key = signing.generate_private_key()
    with factory() as session:
        organization = session.get(Organization, org_id)
        register_key(session, organization, signing.encode_b64(signing.public_key_raw(private_key)))
        session.commit()
        payload = {
            "id": str(uuid.uuid4()),
            "issuer": organization.slug,
            "issued_at": "2025-06-01T00:00:00Z",
            "in_response_to": None,
            "supersedes": supersedes,
            "part": {"number": part, "name": part, "unit": "piece"},
            "materials": material_lines(random.Random(part), 2),
            "components": [],
            "statement": "bench",
        }
        envelope = signing.sign_payload(json.dumps(payload).encode(), private_key)
        submit_seconds, _ = timed(lambda: submit_declaration(session, organization, envelope))
        session.commit()
        event = session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq.desc())).first()
        event_type, event_payload = event.type, event.payload
    with factory() as session:
        merge_seconds, touched = timed(lambda: handle_event(session, event_type, event_payload))
        session.commit()
    return submit_seconds, merge_seconds, len(touched)


def run(kind: str, args: argparse.Namespace) -> None:
    with database(kind) as url:
        if url is None:
            return
        started = time.perf_counter()
        ids = generate(url, args.fanout, args.leaves)
        setup_seconds = time.perf_counter() - started
        print(f"[{kind}] setup: {ids['declarations']:,} declarations inserted in {setup_seconds:.1f} s")
        engine = make_engine(url)
        factory = make_session_factory(engine)

        def rebuild() -> int:
            with factory() as session:
                count = rebuild_all(session)
                session.commit()
            return count

        def build() -> dict[str, Any]:
            with factory() as session:
                view = chain_view(session, ids["root"], session.get(Organization, ids["authority"]))
                session.rollback()  # drops the audit-log entry: every run reads the same database
            return view

        app = create_app(
            Settings.from_env({"TIERTRACE_DATABASE_URL": url, "TIERTRACE_SECRET_KEY": "bench"}),
            session_factory=factory,
        )
        client = app.test_client()
        with factory() as session:
            token = create_token(session, session.get(Organization, ids["authority"]))
            session.commit()

        def read() -> bytes:
            answer = client.get(f"/api/v1/chains/{ids['root']}", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.status_code
            return answer.data

        rebuild_seconds, count = timed(rebuild)
        print(
            f"[{kind}] full rebuild of {count:,} rollups: {rebuild_seconds * 1000:.0f} ms (target <= 2000 ms)"
        )
        reads = []
        for _ in range(args.runs):
            seconds, body = timed(read)
            reads.append(seconds)
        builds = []
        for _ in range(args.runs):
            seconds, view = timed(build)
            builds.append(seconds)
        target = 100 if kind == "sqlite" else 200
        print(
            f"[{kind}] GET chain view of {len(view['nodes']):,} nodes (truncated: {view['truncated']}, "
            f"JSON {len(body) / 1e6:.1f} MB): median {statistics.median(reads) * 1000:.0f} ms "
            f"over {args.runs} reads (target <= {target} ms); the first, with no parsed rollup cached in the "
            f"process yet: {reads[0] * 1000:.0f} ms; chain_view alone: median "
            f"{statistics.median(builds) * 1000:.0f} ms"
        )

        # Warm up as a running merge consumer is: SQLAlchemy compiles each statement once per process.
        with factory() as session:
            refresh_rollups(session, [ids["warm_up"]])
            session.commit()
        submit_seconds, merge_seconds, touched = file_leaf(
            factory, ids["new_leaf_org"], ids["gap_part"], None
        )
        print(
            f"[{kind}] new leaf declaration filling a gap: merge {merge_seconds * 1000:.1f} ms for {touched} "
            f"rollups (target <= 50 ms); submit_declaration itself {submit_seconds * 1000:.1f} ms"
        )
        org_id, part, previous = ids["shared_leaf"]
        _, merge_seconds, touched = file_leaf(factory, org_id, part, previous)
        print(
            f"[{kind}] new version of a leaf used by many parts: merge {merge_seconds * 1000:.0f} ms "
            f"({touched} rollups)"
        )
        seconds, _ = timed(read)
        print(f"[{kind}] GET the view right after both updates: {seconds * 1000:.0f} ms")
        view = build()
        coverage = view["coverage"]
        print(
            f"[{kind}] after both: {len(view['nodes']):,} nodes, "
            f"{coverage['components_declared']:,}/{coverage['components_total']:,} components declared"
        )

        # Memory is measured in runs of its own: tracemalloc slows Python down several times.
        tracemalloc.start()
        rebuild()
        _, rebuild_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read()
        _, read_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"[{kind}] memory: traced peak {rebuild_peak / 1e6:.0f} MB in a rebuild, "
            f"{read_peak / 1e6:.0f} MB in a view read; process max RSS {rss_mb:.0f} MB (goal < 300 MB)"
        )
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--leaves", type=int, default=100)
    args = parser.parse_args()
    for kind in ("sqlite", "postgresql"):
        run(kind, args)


if __name__ == "__main__":
    main()
