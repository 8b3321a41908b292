"""Benchmark: signed declarations accepted over HTTP by one portal process (SQLite and PostgreSQL).

Targets (issue 2): at least 1,000 accepted/s on SQLite and 700/s on PostgreSQL, p99 under 20 ms.
Printed beside them: the raw Ed25519 verify rate of this machine, measured in the same run, and the
ratio (how much of one core's verify budget a declaration costs end to end); and the HTTP floor, a
Flask app doing no work under the same gunicorn settings (bench/_http_floor.py): the most any
endpoint of this stack can answer per second here.

Each database is measured twice: the portal alone (TIERTRACE_AMQP_URL set, as in production, where
the bus runs in `tiertrace worker` processes; none runs here, events wait in the outbox) and the
embedded mode (the bus in the portal's own process, as `bash scripts/demo.sh` runs it).

Each line also gives the server's CPU time per request (its processes' user and system time over the
measured requests, from /proc; Linux only): on a machine shared with other work, requests per second
move with the neighbours' load, the CPU a request costs much less. The load generator runs on the same
machine and takes its share of the cores.

    python bench/declarations.py [--count 4000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import tempfile
import threading
import time
import uuid
from urllib.parse import urlparse

from _common import Server, database, http_floor_server, portal_server, summary_ms

import migrations
from tiertrace import signing
from tiertrace.db import make_engine, make_session_factory
from tiertrace.organizations.services import create_organization, register_key

ORGS = 20


def verify_rate(seconds: float = 1.0) -> float:
    key = signing.generate_private_key()
    public = key.public_key()
    message = b"x" * 600
    sig = key.sign(message)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            public.verify(sig, message)
        n += 200
    return n / (time.perf_counter() - start)


def prepare(database_url: str, count: int) -> list[tuple[str, bytes]]:
    """Organisations with keys in the database, and `count` envelopes signed in advance."""
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    members = []
    with make_session_factory(engine)() as session:
        for i in range(ORGS):
            key = signing.generate_private_key()
            org, token = create_organization(
                session, slug=f"bench-{i}", name=f"Bench {i}", country="DE", kind="company"
            )
            register_key(session, org, signing.encode_b64(signing.public_key_raw(key)))
            members.append((org.slug, token, key))
        session.commit()
    engine.dispose()
    envelopes = []
    for n in range(count):
        slug, token, key = members[n % ORGS]
        payload = {
            "id": str(uuid.uuid4()),
            "issuer": slug,
            "issued_at": "2026-11-28T12:00:00Z",
            "part": {"number": f"P-{n}", "name": "bench part", "unit": "piece"},
            "materials": [
                {
                    "material": "Ga",
                    "mass_g": 0.84,
                    "extraction": [{"country": "CN", "share": 0.9}],
                    "processing": [{"country": "CN", "share": 0.98}],
                    "recycled_share": 0.0,
                }
            ],
            "components": [],
            "statement": "bench",
        }
        envelopes.append((token, signing.sign_payload(json.dumps(payload).encode(), key)))
    return envelopes


def fire(base: str, envelopes: list[tuple[str, bytes]], concurrency: int) -> tuple[float, list[float], int]:
    """POST `envelopes` over `concurrency` keep-alive connections; (seconds, latencies, answers not 201)."""
    work: queue.Queue[tuple[str, bytes]] = queue.Queue()
    for item in envelopes:
        work.put(item)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    host = urlparse(base)

    def client() -> None:
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        mine = []
        while True:
            try:
                token, body = work.get_nowait()
            except queue.Empty:
                break
            start = time.perf_counter()
            connection.request(
                "POST",
                "/api/v1/declarations",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 201:
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, failures[0]


#: (label, TIERTRACE_AMQP_URL for the portal). The target is for the portal alone: in production the bus
#: runs in `tiertrace worker` processes (none is started, so events wait in the outbox); the embedded mode,
#: with the bus sharing the portal's process, is measured beside it for comparison.
MODES = (
    ("portal alone", "amqp://guest:guest@127.0.0.1:5672/%2F"),
    ("embedded bus", None),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    rate = verify_rate()
    print(f"raw Ed25519 verify: {rate:,.0f}/s on one core")
    with http_floor_server() as server:
        floor_envelopes = [("token", b'{"payloadType": "x"}' * 30)] * args.count
        fire(server.url, floor_envelopes[:200], args.concurrency)
        elapsed, latencies, _, cpu = measured(server, floor_envelopes[200:], args.concurrency)
    print(
        f"HTTP floor (bench/_http_floor.py, same server settings, no work): "
        f"{(args.count - 200) / elapsed:,.0f} requests/s, {summary_ms(latencies)}{cpu}",
        flush=True,
    )
    for kind, target in (("sqlite", 1000), ("postgresql", 700)):
        for mode, amqp_url in MODES:
            with database(kind) as url, tempfile.TemporaryDirectory() as data_dir:
                if url is None:
                    continue
                envelopes = prepare(url, args.count)
                with portal_server(url, data_dir, amqp_url=amqp_url) as server:
                    fire(server.url, envelopes[:200], args.concurrency)  # warm-up: connections, caches
                    elapsed, latencies, failures, cpu = measured(server, envelopes[200:], args.concurrency)
                accepted = (len(envelopes) - 200 - failures) / elapsed
                print(
                    f"{kind:10s} {mode:12s}: {accepted:,.0f} accepted/s (target ≥ {target}), "
                    f"{summary_ms(latencies)} (target p99 < 20 ms), {failures} failed; "
                    f"ratio to raw verify {accepted / rate:.3f}{cpu}",
                    flush=True,
                )


def measured(
    server: Server, envelopes: list[tuple[str, bytes]], concurrency: int
) -> tuple[float, list[float], int, str]:
    """`fire`, and the server's CPU time per request over it as text to print ("" if not known)."""
    before = server.cpu_seconds()
    elapsed, latencies, failures = fire(server.url, envelopes, concurrency)
    after = server.cpu_seconds()
    if before is None or after is None:
        return elapsed, latencies, failures, ""
    per_request = (after - before) / len(envelopes) * 1000
    busy = (after - before) / elapsed
    return elapsed, latencies, failures, f"; server CPU {per_request:.2f} ms/request ({busy:.0%} of a core)"


if __name__ == "__main__":
    main()
