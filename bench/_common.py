"""Shared benchmark helpers: a throw-away database, a portal server process, percentiles."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("TIERTRACE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {percentile(ms, 99):.2f} ms, max {max(ms):.2f} ms"


@contextlib.contextmanager
def database(kind: str) -> Iterator[str | None]:
    """A fresh database URL of `kind` ("sqlite" or "postgresql"), dropped afterwards; None if unavailable."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        return
    admin = create_engine(
        "postgresql+psycopg://" + PG_ADMIN_URL.removeprefix("postgresql://"), isolation_level="AUTOCOMMIT"
    )
    name = f"tiertrace_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so and skip that half of the benchmark
        print(f"(PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}; skipped)")
        yield None
        return
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """A server process started for a benchmark: its base URL and process id."""

    url: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time (user and system) used so far by the process and its children (gunicorn's workers);
        None where /proc cannot tell (not Linux). On a machine shared with other work, the CPU a request
        costs the server is a steadier figure than requests per second."""
        try:
            total, _ = _cpu_and_parent(self.pid)
            pids = [entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit()]
        except OSError:
            return None
        for pid in pids:
            try:
                seconds, parent = _cpu_and_parent(int(pid))
            except OSError:  # the process ended meanwhile
                continue
            if parent == self.pid:
                total += seconds
        return total


def _cpu_and_parent(pid: int) -> tuple[float, int]:
    """A process's CPU seconds (user and system) and its parent's id, from /proc/PID/stat."""
    # The fields after the command name, which may hold spaces and parentheses itself.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[1])


@contextlib.contextmanager
def portal_server(
    database_url: str, data_dir: str, *, threads: int = 8, amqp_url: str | None = None
) -> Iterator[Server]:
    """`tiertrace serve` in a subprocess (one gunicorn worker process); yields it once it answers.

    Without `amqp_url` the bus runs inside that process (embedded mode); with it the portal only writes
    the outbox and leaves the bus to `tiertrace worker` processes (none is started here).
    """
    port = free_port()
    env = {**os.environ, "TIERTRACE_DATABASE_URL": database_url, "TIERTRACE_DATA_DIR": data_dir}
    env.pop("TIERTRACE_AMQP_URL", None)
    if amqp_url is not None:
        env["TIERTRACE_AMQP_URL"] = amqp_url
    tiertrace = Path(sys.executable).parent / "tiertrace"
    command = [str(tiertrace), "serve", "--port", str(port), "--workers", "1", "--threads", str(threads)]
    with _server(command, env, port) as server:
        yield server


@contextlib.contextmanager
def http_floor_server(*, threads: int = 8) -> Iterator[Server]:
    """bench/_http_floor.py under gunicorn as `tiertrace serve` runs the portal; yields it once it answers."""
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [
        str(gunicorn),
        *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread"),
        *("--threads", str(threads), "--access-logfile", "-", "--chdir", str(Path(__file__).parent)),
        "_http_floor:app",
    ]
    with _server(command, dict(os.environ), port) as server:
        yield server


@contextlib.contextmanager
def _server(command: list[str], env: dict[str, str], port: int) -> Iterator[Server]:
    """Run `command` until the block ends; yields it once it accepts connections on `port`."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{command[0]} did not start:\n" + process.stderr.read().decode()
                    ) from None
                time.sleep(0.1)
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.wait(30)
