"""The worker process around the consumers: waiting for the database and the broker at start, SIGTERM
while it waits, topology mismatches, and the lines it logs about itself."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pika
import pytest
from bus_support import rabbitmqctl, wait_for
from sqlalchemy import create_engine

from tiertrace.db import make_engine, make_session_factory
from worker.rabbitmq import RabbitWorker, ensure_topology

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WorkerProcess:
    """`python -m worker` with its stderr read line by line in a thread (so that waiting never hangs)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker", "--log-level", "INFO"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                self._queue.put(line)
        self._queue.put(None)

    def wait_for_line(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(f"no line with {text!r} within {timeout} s:\n" + "".join(self.lines))

    def wait(self, timeout: float) -> int:
        status = self.process.wait(timeout=timeout)
        self._reader.join(5)
        while True:
            line = self._queue.get_nowait() if not self._queue.empty() else None
            if line is None:
                return status
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def worker_env(database_url: str, amqp_url: str, prefix: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TIERTRACE_DATABASE_URL": database_url,
        "TIERTRACE_AMQP_URL": amqp_url,
        "TIERTRACE_BUS_PREFIX": prefix,
        "TIERTRACE_DATA_DIR": str(data_dir),
        "TIERTRACE_SECRET_KEY": "test",
    }


def check_worker(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    """`python -m worker --check` (what docker compose's healthcheck runs, as `tiertrace worker --check`)."""
    return subprocess.run(
        [sys.executable, "-m", "worker", "--check", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_running_worker_is_healthy_and_one_killed_hard_is_not(database_url, amqp_url, bus_prefix, tmp_path):
    health_file = tmp_path / "worker-health.json"
    env = {
        **worker_env(database_url, amqp_url, bus_prefix, tmp_path),
        "TIERTRACE_WORKER_HEALTH_FILE": str(health_file),
    }
    worker = WorkerProcess(env)
    pid = worker.process.pid
    try:
        worker.wait_for_line("worker started")
        healthy = wait_for(lambda: (result := check_worker(env)).returncode == 0 and result, timeout=20)
        assert re.fullmatch(
            rf"healthy: worker pid {pid} is running \(health file written \d+ s ago\)\n", healthy.stdout
        )
        assert healthy.stderr == ""
        status = json.loads(health_file.read_text())
        assert status["consumers"] == {"propagate": True, "merge": True, "notify": True}
        assert status["relay"]["publisher_connected"] is True
        assert "guest" not in health_file.read_text()
        worker.process.kill()  # SIGKILL: nothing gets to write "stopped"
        worker.wait(timeout=10)
        time.sleep(1.5)
        stale = check_worker(env, "--max-age", "1")
    finally:
        worker.kill()
    assert stale.returncode == 1
    assert stale.stdout == ""
    assert re.fullmatch(
        rf"unhealthy: the health file was last written \d+ s ago \(more than 1 s\): "
        rf"worker pid {pid} is dead or hung\n",
        stale.stderr,
    )


def test_a_worker_waiting_for_a_broker_that_is_not_there_is_unhealthy_and_says_why(database_url, tmp_path):
    port = closed_port()
    health_file = tmp_path / "worker-health.json"
    env = {
        **worker_env(database_url, f"amqp://guest:secret@127.0.0.1:{port}/x", "t.", tmp_path),
        "TIERTRACE_WORKER_HEALTH_FILE": str(health_file),
    }
    worker = WorkerProcess(env)
    try:
        worker.wait_for_line("broker not available yet")
        waiting = wait_for(lambda: "Connection refused" in (result := check_worker(env)).stderr and result)
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
        stopped = check_worker(env)
    finally:
        worker.kill()
    assert waiting.returncode == 1
    assert waiting.stderr == (
        f"unhealthy: waiting for broker (127.0.0.1:{port}/x: cannot connect: "
        "ConnectionRefusedError: [Errno 111] Connection refused)\n"
    )
    assert (stopped.returncode, stopped.stderr) == (1, "unhealthy: stopped\n")
    assert "secret" not in health_file.read_text()


def test_sigterm_while_the_broker_cannot_be_reached_stops_the_worker_at_once(database_url, tmp_path):
    """Before, the wait for the broker ended on SIGTERM, but the worker then started its consumers and
    waited 30 s for its publisher, logging "worker started" after "received SIGTERM"."""
    url = f"amqp://guest:secret@127.0.0.1:{closed_port()}/x"
    worker = WorkerProcess(worker_env(database_url, url, "t.", tmp_path))
    try:
        worker.wait_for_line("broker not available yet")
        worker.wait_for_line("broker not available yet")  # a retry round, one line
        start = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
        assert time.monotonic() - start < 2.5
    finally:
        worker.kill()
    output = worker.output
    assert "worker started" not in output
    assert "worker stopped" in output
    # One line per retry with the reason (str() of pika's error is empty), and none of pika's own.
    assert "ConnectionRefusedError: [Errno 111] Connection refused" in output
    assert "pika." not in output and "Traceback" not in output
    assert "secret" not in output


def test_a_worker_that_cannot_reach_the_database_takes_no_deliveries(
    broker_settings, amqp_url, bus_prefix, caplog
):
    """Before, it consumed anyway and held its prefetch, retrying in place, while healthy workers idled."""
    topo = ensure_topology(amqp_url, bus_prefix)
    engine = make_engine(
        f"postgresql://tiertrace:hunter2@127.0.0.1:{closed_port()}/tiertrace", pre_ping=False
    )
    worker = RabbitWorker(broker_settings, make_session_factory(engine), poll_interval=0.5)
    caplog.set_level(logging.INFO, logger="worker")
    thread = threading.Thread(target=worker.start)
    thread.start()
    try:

        def retries() -> list[str]:
            return [r.getMessage() for r in caplog.records if "database not available yet" in r.getMessage()]

        wait_for(lambda: len(retries()) >= 2, timeout=10)
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            for q in topo.queues:
                assert connection.channel().queue_declare(q.name, passive=True).method.consumer_count == 0
        finally:
            connection.close()
        assert not any(c.connected.is_set() for c in worker.consumers)
        # What the health file says meanwhile: waiting, with the reason, and no password.
        status = worker.status()
        assert status["state"] == "waiting for database"
        assert "tiertrace:***@127.0.0.1" in status["reason"] and "OperationalError" in status["reason"]
        assert "hunter2" not in status["reason"]
        line = retries()[0]
        assert "tiertrace:***@127.0.0.1" in line and "hunter2" not in line
        assert "OperationalError" in line and "\n" not in line
        # SIGTERM while it waits: it returns at once, having started nothing.
        worker.stop_event.set()
        thread.join(2)
        assert not thread.is_alive()
    finally:
        worker.stop()
        thread.join(5)
        engine.dispose()
    assert not any("worker started" in r.getMessage() for r in caplog.records)


def test_a_topology_mismatch_at_start_is_one_error_line_and_exit_status_1(
    database_url, amqp_url, bus_prefix, tmp_path
):
    """Before: exit status 1 with a traceback of ~50 lines."""
    queue_name = f"{bus_prefix}propagate.declarations"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_declare(
            queue_name, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 5}
        )
    finally:
        connection.close()
    env = {
        **worker_env(database_url, amqp_url, bus_prefix, tmp_path),
        "TIERTRACE_WORKER_HEALTH_FILE": str(tmp_path / "worker-health.json"),
    }
    worker = WorkerProcess(env)
    try:
        status = worker.wait(timeout=30)
    finally:
        worker.kill()
    errors = [line for line in worker.lines if " ERROR " in line]
    assert status == 1, worker.output
    assert len(errors) == 1, worker.output
    assert f"queue {queue_name}" in errors[0] and "delete it" in errors[0]
    assert "Traceback" not in worker.output
    # The health check says why the worker stopped.
    check = check_worker(env)
    assert check.returncode == 1
    assert check.stderr.startswith(
        f"unhealthy: stopped (topology mismatch: the broker has queue {queue_name} "
    )


def test_a_topology_mismatch_met_on_reconnect_stops_the_worker_with_status_1(
    broker_settings, amqp_url, session_factory, monkeypatch, caplog
):
    """Before, the consumers logged the traceback and retried forever while the docs said the worker
    stops."""
    import worker.rabbitmq as transport

    worker = RabbitWorker(broker_settings, session_factory, poll_interval=0.5)
    status: list[int] = []

    def sabotage() -> None:
        deadline = time.monotonic() + 20
        while not all(c.connected.is_set() for c in worker.consumers) and time.monotonic() < deadline:
            time.sleep(0.05)
        # Another release declares the queues with other arguments; the connections drop.
        monkeypatch.setattr(transport, "DELIVERY_LIMIT", transport.DELIVERY_LIMIT + 1)
        rabbitmqctl("close_all_connections", "-p", amqp_url.rsplit("/", 1)[1], "test: reconnect")
        # The old code never stops by itself.
        if not worker.stop_event.wait(max(0.0, deadline - time.monotonic())):
            worker.stop_event.set()
            status.append(-1)

    helper = threading.Thread(target=sabotage)
    helper.start()
    try:
        status.insert(0, worker.run())
    finally:
        worker.stop_event.set()
        helper.join(30)
    assert status == [1]
    assert any(c.failure is not None for c in worker.consumers)
    mismatches = [r for r in caplog.records if "topology mismatch" in r.getMessage()]
    assert mismatches and all(r.levelno == logging.ERROR and not r.exc_info for r in mismatches)


def test_worker_started_names_the_broker_the_prefix_the_database_the_consumers_and_the_relay(
    broker_settings, amqp_url, bus_prefix, session_factory, engine, caplog
):
    caplog.set_level(logging.INFO, logger="worker")
    worker = RabbitWorker(broker_settings, session_factory, consumers=["propagate"], poll_interval=0.5)
    worker.start()
    try:
        started = [r.getMessage() for r in caplog.records if "worker started" in r.getMessage()]
        vhost = amqp_url.rsplit("/", 1)[1]
        assert started == [
            f"worker started: broker 127.0.0.1:5672/{vhost}, prefix {bus_prefix!r}, "
            f"database {engine.url.render_as_string(hide_password=True)}, consumers propagate, "
            f"relay {len(worker.relays)} lane(s)"
        ]
        caplog.clear()
        rabbitmqctl("close_all_connections", "-p", vhost, "test: connection lost")
        wait_for(lambda: any("propagate: reconnected" in r.getMessage() for r in caplog.records))
        wait_for(lambda: any("publisher reconnected" in r.getMessage() for r in caplog.records))
    finally:
        worker.stop()


def test_the_description_of_a_worker_masks_the_passwords(settings):
    engine = create_engine("postgresql+psycopg://tiertrace:hunter2@db.internal:5432/tiertrace")
    worker = RabbitWorker(
        replace(settings, amqp_url="amqp://tt:s3cret@mq.internal:5672/%2F", bus_prefix=""),
        make_session_factory(engine),
        relay=False,
    )
    described = worker.describe()
    assert described == (
        "broker mq.internal:5672/%2F, prefix '', database postgresql+psycopg://tiertrace:***@db.internal:5432/"
        "tiertrace, consumers propagate, merge, notify, relay off"
    )
