"""A broker restart in the middle of a run: the worker reconnects, the relay republishes what was not
confirmed, and nothing is lost.

The machine's broker is shared with other test runs, so the test starts a RabbitMQ node of its own (its
own node name, port and data folder under a temporary directory), stops it and starts it again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pika
import pytest
from bus_support import component, count_rows, requires_postgresql, wait_for
from services_support import service_missing
from sqlalchemy import select

from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.outbox.models import OutboxEvent
from worker.rabbitmq import RabbitWorker

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

SBIN = Path("/usr/lib/rabbitmq/bin")


def _tool(name: str) -> str | None:
    # The Debian wrappers in /usr/sbin switch to the rabbitmq user, which cannot use our temporary
    # folder; the scripts behind them run as whoever calls them.
    direct = SBIN / name
    return str(direct) if direct.exists() else shutil.which(name)


def _free_port() -> int:
    # Erlang's distribution port is the AMQP port + 20000 here, so stay below 45535.
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 45000 and _port_free(port + 20000):
            return port
    pytest.fail("no free port pair for a private RabbitMQ node")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PrivateBroker:
    """A RabbitMQ node of this test's own, in a temporary folder."""

    def __init__(self, base: Path) -> None:
        self.port = _free_port()
        self.node = f"tiertrace-test-{uuid.uuid4().hex[:8]}@localhost"
        self.base = base
        (base / "mnesia").mkdir()
        (base / "log").mkdir()
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        cookie = base / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex)
        cookie.chmod(0o400)
        self.pid_file = base / "rabbit.pid"
        self.env = {
            **os.environ,
            "HOME": str(base),  # where Erlang finds the cookie, for the node and for rabbitmqctl alike
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + 20000),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        }
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _ctl(self, *args: str, timeout: float = 90) -> None:
        subprocess.run(
            [_tool("rabbitmqctl"), "-n", self.node, *args],  # type: ignore[list-item]
            env=self.env,
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        subprocess.run(
            [_tool("rabbitmq-server"), "-detached"], env=self.env, check=True, capture_output=True, timeout=60
        )  # type: ignore[list-item]
        self._ctl("wait", str(self.pid_file), "--timeout", "90")

    def stop(self) -> None:
        self._ctl("stop", str(self.pid_file))


@pytest.fixture
def private_broker(tmp_path_factory) -> Iterator[PrivateBroker]:
    requires_postgresql()
    if _tool("rabbitmq-server") is None or _tool("rabbitmqctl") is None:
        service_missing("RabbitMQ's rabbitmq-server and rabbitmqctl are needed to start a private node")
    broker = PrivateBroker(tmp_path_factory.mktemp("rabbitmq"))
    try:
        broker.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        service_missing(f"could not start a private RabbitMQ node: {exc}")
    try:
        yield broker
    finally:
        # Already down if this fails; nothing of it is left running either way.
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            broker.stop()


def test_a_broker_restart_during_a_run_loses_nothing(
    private_broker, settings, session_factory, make_org, make_payload, submit
):
    suppliers = [make_org(f"supplier-{i}") for i in range(4)]
    oem = make_org("oem")
    worker = RabbitWorker(
        replace(settings, amqp_url=private_broker.url, bus_prefix=""), session_factory, poll_interval=0.5
    )
    worker.start()
    count = 120
    submitted = threading.Event()

    def run() -> None:
        for i in range(count):
            components = [
                component(suppliers[i % 4].slug, f"A{i}"),
                component(suppliers[(i + 1) % 4].slug, f"B{i}"),
            ]
            submit(oem, make_payload(oem.slug, f"SHIP-{i}", components=components))
            time.sleep(0.05)
        submitted.set()

    thread = threading.Thread(target=run)
    try:
        thread.start()
        while count_rows(session_factory, DisclosureRequest) < 20:
            time.sleep(0.05)
        private_broker.stop()  # the whole node goes down, queues and connections with it
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(pika.URLParameters(private_broker.url))
        time.sleep(1.0)  # submissions go on meanwhile; the outbox keeps them
        private_broker.start()
        thread.join(timeout=120)
        assert submitted.is_set()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (
                count_rows(session_factory, DisclosureRequest) >= 2 * count
                and count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 0
            ):
                break
            time.sleep(0.2)
        with session_factory() as session:
            keys = session.execute(select(DisclosureRequest.supplier_id, DisclosureRequest.part_number)).all()
        expected = {(suppliers[i % 4].organization.id, f"A{i}") for i in range(count)} | {
            (suppliers[(i + 1) % 4].organization.id, f"B{i}") for i in range(count)
        }
        assert len(keys) == len(set(keys)), "a forwarded request was made twice"
        assert set(keys) == expected, "a forwarded request was lost"
        assert count_rows(session_factory, OutboxEvent, OutboxEvent.sent_at.is_(None)) == 0
        wait_for(lambda: all(c.stats.connections >= 2 and c.connected.is_set() for c in worker.consumers))
    finally:
        thread.join(timeout=120)
        worker.stop()
