"""Benchmark: requests travelling up the tiers over RabbitMQ, with one `python -m worker` process.

Targets (issue 3), on loopback RabbitMQ and PostgreSQL:
- per hop — a declaration accepted (committed) until the forwarded request is visible to the next
  supplier — p50 at most 2 ms and p99 at most 5 ms;
- at least 700 hops per second per worker process.
With the throughput, the worker process's CPU time (user + system) per hop: steadier than the rate on a
machine that other work shares. Printed beside them, measured in the same run: the raw RabbitMQ
publish-to-consume latency (persistent message, quorum queue, publisher and consumer in one process),
i.e. the broker's share of a hop, and the raw PostgreSQL insert+commit latency, the share of the one
transaction a hop must commit (the forwarded request). Their sum is the floor of a hop; see docs/bus.md.

    python bench/propagation.py [--chains 50] [--throughput 2000]

Needs PostgreSQL (TIERTRACE_BENCH_PG_URL) and RabbitMQ (TIERTRACE_BENCH_AMQP_URL); uses a throw-away
database and a name prefix on the broker, both removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import psycopg
from _common import database, summary_ms
from sqlalchemy import func, select

import migrations
from tiertrace import signing
from tiertrace.db import make_engine, make_session_factory
from tiertrace.declarations.services import submit_declaration
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import create_organization, register_key
from tiertrace.outbox.services import NOTIFY_CHANNEL
from worker.handlers import CONSUMERS

AMQP_URL = os.environ.get("TIERTRACE_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
ROOT = Path(__file__).resolve().parents[1]


def raw_broker_latency(prefix: str, count: int = 400) -> list[float]:
    """Publish-to-consume seconds of persistent messages through a quorum queue, one at a time."""
    queue = f"{prefix}raw-latency"
    publisher = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = publisher.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    latencies: list[float] = []
    ready, done = threading.Event(), threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        consumer = connection.channel()
        consumer.basic_qos(prefetch_count=10)

        def on_message(ch: Any, method: Any, _properties: Any, body: bytes) -> None:
            latencies.append(time.perf_counter() - float(body))
            ch.basic_ack(method.delivery_tag)
            if len(latencies) >= count:
                ch.stop_consuming()

        consumer.basic_consume(queue, on_message)
        ready.set()
        consumer.start_consuming()
        connection.close()
        done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    ready.wait()
    for _ in range(count):
        channel.basic_publish(
            "", queue, str(time.perf_counter()).encode(), pika.BasicProperties(delivery_mode=2)
        )
        publisher.process_data_events(0)
        time.sleep(0.003)  # one at a time, as hops come: this is latency, not throughput
    done.wait(60)
    channel.queue_delete(queue)
    publisher.close()
    return latencies


def raw_commit_latency(database_url: str, count: int = 400) -> list[float]:
    """Seconds of an INSERT and its COMMIT (an fsync of the WAL) on PostgreSQL, one at a time."""
    latencies: list[float] = []
    with psycopg.connect(database_url) as connection:
        connection.execute("CREATE TABLE bench_commit (n integer)")
        connection.commit()
        for n in range(count):
            start = time.perf_counter()
            connection.execute("INSERT INTO bench_commit VALUES (%s)", (n,))
            connection.commit()
            latencies.append(time.perf_counter() - start)
        connection.execute("DROP TABLE bench_commit")
        connection.commit()
    return latencies


class Bench:
    """Organisations with keys, and helpers to submit declarations through the service."""

    def __init__(self, database_url: str, tiers: int = 5, width: int = 10) -> None:
        self.engine = make_engine(database_url)
        self.sessions = make_session_factory(self.engine)
        self.members: list[list[tuple[int, str, Any]]] = []
        with self.sessions() as session:
            for tier in range(tiers):
                row = []
                for i in range(width):
                    key = signing.generate_private_key()
                    org, _ = create_organization(
                        session,
                        slug=f"t{tier}-{i}",
                        name=f"Tier {tier} no. {i}",
                        country="DE",
                        kind="company",
                    )
                    register_key(session, org, signing.encode_b64(signing.public_key_raw(key)))
                    row.append((org.id, org.slug, key))
                self.members.append(row)
            session.commit()

    def envelope(self, member: tuple[int, str, Any], part: str, **fields: Any) -> bytes:
        _, slug, key = member
        payload = {
            "id": str(uuid.uuid4()),
            "issuer": slug,
            "issued_at": "2026-11-28T12:00:00Z",
            "in_response_to": None,
            "supersedes": None,
            "part": {"number": part, "name": part, "unit": "piece"},
            "materials": [],
            "components": [],
            "statement": "bench",
        }
        payload.update(fields)
        return signing.sign_payload(json.dumps(payload).encode(), key)

    def submit(self, member: tuple[int, str, Any], envelope: bytes) -> str:
        with self.sessions() as session:
            organization = session.get(Organization, member[0])
            declaration_id = submit_declaration(session, organization, envelope).id
            session.commit()
        return declaration_id


@contextlib.contextmanager
def worker_process(database_url: str, prefix: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`python -m worker` against the bench database and prefix; yields once it has started."""
    env = {
        **os.environ,
        "TIERTRACE_DATABASE_URL": database_url,
        "TIERTRACE_AMQP_URL": AMQP_URL,
        "TIERTRACE_BUS_PREFIX": prefix,
        "TIERTRACE_SECRET_KEY": "bench",
        "TIERTRACE_DATA_DIR": "/tmp/tiertrace-bench",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "worker", "--log-level", "INFO", *args],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "worker started" in line:
            break
    else:
        raise RuntimeError("the worker did not start")
    # Keep reading its log so that a full pipe never blocks it.
    threading.Thread(target=lambda: [None for _ in process.stderr or ()], daemon=True).start()
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def hop_latencies(bench: Bench, database_url: str, chains: int, label: str) -> list[float]:
    """Play `chains` five-tier chains; each hop: answer committed → next request visible."""
    listener = psycopg.connect(database_url, autocommit=True)
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    hops: list[float] = []
    for c in range(chains):
        request_id: str | None = None
        for tier in range(5):
            member = bench.members[tier][c % len(bench.members[tier])]
            fields: dict[str, Any] = {"in_response_to": request_id}
            if tier < 4:
                upstream = bench.members[tier + 1][c % len(bench.members[tier + 1])]
                fields["components"] = [
                    {
                        "part_number": f"{label}{c}-{tier + 1}",
                        "supplier": upstream[1],
                        "quantity": 1,
                        "request_disclosure": True,
                    }
                ]
            envelope = bench.envelope(
                member, f"{label}{c}-{tier}", **fields
            )  # signed before the clock starts
            bench.submit(member, envelope)
            if tier == 4:
                break
            start = time.perf_counter()
            # The forwarded request's transaction also wrote "request.created", so its commit NOTIFYs us.
            while True:
                request_id = listener.execute(
                    "SELECT id FROM disclosure_requests WHERE supplier_id = %s AND part_number = %s",
                    (upstream[0], f"{label}{c}-{tier + 1}"),
                ).fetchone()
                if request_id is not None:
                    request_id = request_id[0]
                    break
                for _ in listener.notifies(timeout=5.0, stop_after=1):
                    pass
            hops.append(time.perf_counter() - start)
    listener.close()
    return hops


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a running process has used so far, in seconds (Linux: /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The fields after the command name, which is in parentheses and may contain spaces: utime and
        # stime are the 14th and 15th fields of the line.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(
    bench: Bench, database_url: str, prefix: str, count: int, *worker_args: str
) -> tuple[float, float]:
    """`count` accepted declarations waiting in the outbox, one worker started on them: hops per second,
    and the worker's CPU seconds per hop until the last one was forwarded."""
    width = len(bench.members[1])
    tag = uuid.uuid4().hex[:6]
    envelopes = [
        (
            bench.members[0][n % width],
            bench.envelope(
                bench.members[0][n % width],
                f"T{tag}-{n}",
                components=[
                    {
                        "part_number": f"T{tag}-{n}-1",
                        "supplier": bench.members[1][n % width][1],
                        "quantity": 1,
                        "request_disclosure": True,
                    }
                ],
            ),
        )
        for n in range(count)
    ]
    for member, envelope in envelopes:
        bench.submit(member, envelope)

    def forwarded() -> int:
        with bench.sessions() as session:
            return (
                session.scalar(select(func.count()).where(DisclosureRequest.part_number.like(f"T{tag}-%")))
                or 0
            )

    with worker_process(database_url, prefix, *worker_args) as process:
        start, cpu = time.perf_counter(), process_cpu_seconds(process.pid)
        while forwarded() < count:
            time.sleep(0.01)
        elapsed, cpu = time.perf_counter() - start, process_cpu_seconds(process.pid) - cpu
    return count / elapsed, cpu / count


def delete_topology(prefix: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for spec in CONSUMERS:
        for queue in (spec.queue(prefix), spec.queue(prefix) + ".dlq"):
            channel.queue_delete(queue)
    channel.exchange_delete(f"{prefix}tiertrace.events")
    channel.exchange_delete(f"{prefix}tiertrace.dead-letters")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chains", type=int, default=50, help="five-tier chains for the latency run (4 hops each)"
    )
    parser.add_argument("--throughput", type=int, default=2000, help="declarations for each throughput run")
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    with database("postgresql") as database_url:
        if database_url is None:
            return
        migrations.upgrade(database_url)
        bench = Bench(database_url)
        try:
            raw = raw_broker_latency(prefix)
            commit = raw_commit_latency(database_url)
            with worker_process(database_url, prefix):
                hop_latencies(bench, database_url, 3, "W")  # warm-up: connections, statement caches
                hops = hop_latencies(bench, database_url, args.chains, "L")
            with worker_process(database_url, prefix, "--consumers", "propagate"):
                hop_latencies(bench, database_url, 3, "V")
                hops_alone = hop_latencies(bench, database_url, args.chains, "M")
            full = throughput(bench, database_url, prefix, args.throughput)
            propagate_only = throughput(
                bench, database_url, prefix, args.throughput, "--consumers", "propagate"
            )
        finally:
            bench.engine.dispose()
            delete_topology(prefix)
    print(f"per-hop latency ({len(hops)} hops): {summary_ms(hops)}   (target: p50 <= 2 ms, p99 <= 5 ms)")
    print(f"per-hop latency, propagate-only worker: {summary_ms(hops_alone)}")
    print(f"raw RabbitMQ publish->consume ({len(raw)} messages): {summary_ms(raw)}")
    print(f"raw PostgreSQL insert+commit ({len(commit)} commits): {summary_ms(commit)}")
    print(
        f"hops per second, one worker (all consumers):   {full[0]:.0f}   (target: >= 700); "
        f"worker CPU {full[1] * 1000:.2f} ms per hop"
    )
    print(
        f"hops per second, one worker (propagate only):  {propagate_only[0]:.0f}; "
        f"worker CPU {propagate_only[1] * 1000:.2f} ms per hop"
    )


if __name__ == "__main__":
    main()
