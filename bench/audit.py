"""Benchmark: the ministry's audit report of a generated programme of about 2,000 nodes (issue 5).

Target: `tiertrace.audit.services.build_report` in at most 1 s. Setup inserts organisations,
declarations, components and requests directly (no signing, no HTTP) and materialises the rollups with
the real merge (`rebuild_all`); the measured call is the real `build_report` as the authority, in a
fresh session each time (the rollups are read from the database, as in production). SQLite, and
PostgreSQL when reachable.

    python bench/audit.py [--nodes 2000] [--fanout 8,6,8,6] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from _common import database
from sqlalchemy import insert

import migrations
from tiertrace.audit.services import build_report
from tiertrace.chains.services import rebuild_all
from tiertrace.db import make_engine, make_session_factory
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.organizations.models import Organization, SigningKey

ORGS = 300
MATERIALS = ("Ga", "Ge", "W", "Ta", "Co", "Nd", "Dy", "Ni", "Cu", "Al")
COUNTRIES = ("CN", "CN", "CN", "AU", "CD", "RW", "BR", "FI", "DE", "JP", "US", "ZA", "CL", "MY")
GAPS = ("open", "overdue", "declined", None)  # None: a component whose supplier is not on the portal
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def generate(database_url: str, fanout: list[int], target: int, seed: int = 5) -> int:
    """Insert a programme of `target` nodes (fewer if `fanout` cannot reach it); returns the count.

    Tier by tier, each declaration lists `fanout[tier]` components until the tree has `target` nodes;
    about one line in ten below Tier 1 is a gap (open, overdue, declined or unknown supplier).
    """
    rng = random.Random(seed)
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        session.execute(
            insert(Organization),
            [
                {
                    "id": i + 1,
                    "slug": f"org-{i}",
                    "name": f"Organisation {i}",
                    "country": "NL",
                    "kind": "company",
                }
                for i in range(ORGS)
            ]
            + [
                {"id": ORGS + 1, "slug": "ministry", "name": "Ministry", "country": "NL", "kind": "authority"}
            ],
        )
        session.execute(
            insert(SigningKey),
            [
                {
                    "keyid": f"ed25519:{i:064x}",
                    "organization_id": i + 1,
                    "public_key": bytes(32),
                    "created_at": NOW,
                }
                for i in range(ORGS)
            ],
        )
        declarations: list[dict[str, Any]] = []
        components: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        nodes = 1

        def declare(issuer: int, part: str, program: str | None, leaf: bool) -> str:
            declaration_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            materials = []
            if leaf or rng.random() < 0.2:
                for code in rng.sample(MATERIALS, rng.randint(1, 3)):
                    first, second = rng.sample(COUNTRIES, 2)
                    share = rng.choice((1.0, 0.9, 0.7, 0.5))
                    processing = [
                        {"country": first, "share": share, "facility": f"{first} plant {rng.randint(1, 4)}"}
                    ]
                    if share < 1.0 and rng.random() < 0.7:
                        processing.append({"country": second, "share": round(1.0 - share, 2)})
                    materials.append(
                        {
                            "material": code,
                            "mass_g": round(rng.uniform(0.01, 50.0), 3),
                            "extraction": [
                                {"country": rng.choice(COUNTRIES), "share": rng.choice((1.0, 0.6, 0.0))}
                            ],
                            "processing": processing,
                            "recycled_share": 0.0,
                        }
                    )
            payload = {
                "id": declaration_id,
                "issuer": f"org-{issuer - 1}",
                "issued_at": "2025-03-01T00:00:00Z",
                "in_response_to": None,
                "supersedes": None,
                "program": program,
                "part": {"number": part, "name": part, "unit": "piece"},
                "materials": materials,
                "components": [],
                "statement": "bench",
            }
            declarations.append(
                {
                    "id": declaration_id,
                    "issuer_id": issuer,
                    "keyid": f"ed25519:{issuer - 1:064x}",
                    "part_number": part,
                    "part_name": part,
                    "program": program,
                    "is_current": True,
                    "envelope": b"{}",
                    "envelope_sha256": hashlib.sha256(declaration_id.encode()).hexdigest(),
                    "payload": payload,
                    "issued_at": NOW - timedelta(days=90),
                    "accepted_at": NOW - timedelta(days=90),
                }
            )
            return declaration_id

        root = declare(1, "BENCH-SHIP", "BENCH", leaf=False)
        level = [(root, 1, "BENCH-SHIP")]
        for depth, width in enumerate(fanout, start=1):
            next_level = []
            for parent_id, parent_issuer, parent_part in level:
                payload_components = next(d for d in reversed(declarations) if d["id"] == parent_id)[
                    "payload"
                ]["components"]
                for position in range(width):
                    if nodes >= target:
                        break
                    nodes += 1
                    part = f"{parent_part}.{position}"
                    supplier = rng.randint(2, ORGS)
                    gap = rng.choice(GAPS) if depth > 1 and rng.random() < 0.1 else "declared"
                    components.append(
                        {
                            "declaration_id": parent_id,
                            "position": position,
                            "part_number": part,
                            "supplier_id": None if gap is None else supplier,
                            "quantity": float(rng.randint(1, 4)),
                            "request_disclosure": True,
                            "disclose_to": "authority",
                        }
                    )
                    payload_components.append(
                        {"part_number": part, "supplier": None if gap is None else f"org-{supplier - 1}"}
                    )
                    if gap is None:
                        continue
                    requests.append(
                        {
                            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                            "requester_id": parent_issuer,
                            "supplier_id": supplier,
                            "part_number": part,
                            "status": "answered" if gap == "declared" else gap,
                            "due_date": date(2025, 4, 1),
                            "created_at": NOW - timedelta(days=100),
                            "overdue_at": NOW - timedelta(days=60) if gap == "overdue" else None,
                        }
                    )
                    if gap == "declared":
                        child = declare(supplier, part, None, leaf=depth == len(fanout))
                        next_level.append((child, supplier, part))
            level = next_level
        session.execute(insert(Declaration), declarations)
        session.execute(insert(DeclarationComponent), components)
        session.execute(insert(DisclosureRequest), requests)
        session.commit()
        rebuild_all(session)
        session.commit()
    engine.dispose()
    return nodes


def measure(database_url: str, runs: int) -> list[float]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    times, cpu = [], []
    for _ in range(runs):
        with factory() as session:
            authority = session.get(Organization, ORGS + 1)
            start, start_cpu = time.perf_counter(), time.process_time()
            report = build_report(session, "BENCH", authority, now=NOW)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            session.rollback()
    engine.dispose()
    print(
        f"    report: {report['completeness']['components_total']:,} component lines, "
        f"{len(report['gaps']):,} gaps, {len(report['vintage']['declarations']):,} declarations, "
        f"{len(report['risk']['materials'])} materials; CPU time of this process: best {min(cpu):.3f} s "
        "(on a busy machine wall time also counts waiting for a core)"
    )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=2000, help="size of the unfolded tree")
    parser.add_argument("--fanout", default="8,6,8,6", help="components per node, tier by tier")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    fanout = [int(n) for n in args.fanout.split(",")]
    for kind in ("sqlite", "postgresql"):
        with database(kind) as url:
            if url is None:
                continue
            start = time.perf_counter()
            nodes = generate(url, fanout, args.nodes)
            print(f"{kind}: generated a programme of {nodes:,} nodes in {time.perf_counter() - start:.1f} s")
            times = measure(url, args.runs)
            print(
                f"{kind:10s}: build_report best {min(times):.3f} s, median {statistics.median(times):.3f} s, "
                f"worst {max(times):.3f} s over {len(times)} runs (target ≤ 1 s)"
            )


if __name__ == "__main__":
    main()
