"""The worker's health file (worker/health.py): what `tiertrace worker --check` reads, and how it judges."""

from __future__ import annotations

import json
import logging
import stat
import threading
from typing import Any

import pytest
from bus_support import wait_for

from worker.health import HealthFile, WorkerState, check_health_file, timestamp, write_status
from worker.rabbitmq import RabbitWorker

NOW = 1_800_000_000.0


def status(**fields: Any) -> dict[str, Any]:
    """A healthy worker's status at NOW, with `fields` changed."""
    return {
        "pid": 4242,
        "state": "running",
        "reason": None,
        "started_at": timestamp(NOW - 600),
        "updated_at": timestamp(NOW - 2),
        "consumers": {"propagate": True, "merge": True, "notify": True},
        "relay": {"publisher_connected": True, "last_pass_at": timestamp(NOW - 1)},
        **fields,
    }


def check(tmp_path, content: dict[str, Any], max_age: float = 30.0) -> tuple[bool, str]:
    path = tmp_path / "health.json"
    write_status(path, content)
    return check_health_file(path, max_age=max_age, now=NOW)


def test_a_running_worker_with_its_consumers_connected_and_a_recent_relay_pass_is_healthy(tmp_path):
    assert check(tmp_path, status()) == (True, "worker pid 4242 is running (health file written 2 s ago)")
    assert check(tmp_path, status(relay=None))[0]  # --no-relay
    assert check(tmp_path, status(consumers={}))[0]  # --consumers ''


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        (
            {"updated_at": timestamp(NOW - 31)},
            "the health file was last written 31 s ago (more than 30 s): worker pid 4242 is dead or hung",
        ),
        ({"state": "starting"}, "starting"),
        (
            {
                "state": "waiting for database",
                "reason": "postgresql://tt:***@db:5432/tt: OperationalError: x",
            },
            "waiting for database (postgresql://tt:***@db:5432/tt: OperationalError: x)",
        ),
        ({"state": "waiting for broker"}, "waiting for broker"),
        ({"state": "stopping"}, "stopping"),
        (
            {"state": "stopped", "reason": "topology mismatch: …"},
            "stopped (topology mismatch: …)",
        ),
        (
            {"consumers": {"propagate": True, "merge": False, "notify": False}},
            "consumer(s) merge, notify not connected to the broker",
        ),
        (
            {"relay": {"publisher_connected": False, "last_pass_at": timestamp(NOW - 1)}},
            "the relay's publisher is not connected to the broker",
        ),
        (
            {"relay": {"publisher_connected": True, "last_pass_at": None}},
            "the relay has not finished a pass yet",
        ),
        (
            {"relay": {"publisher_connected": True, "last_pass_at": timestamp(NOW - 45)}},
            "the relay has not finished a pass for 45 s (more than 30 s)",
        ),
    ],
)
def test_a_worker_is_unhealthy_when_and_says_why(tmp_path, fields, why):
    assert check(tmp_path, status(**fields)) == (False, why)


def test_the_age_limit_is_the_callers(tmp_path):
    assert check(tmp_path, status(), max_age=3)[0]
    assert check(tmp_path, status(), max_age=1) == (
        False,
        "the health file was last written 2 s ago (more than 1 s): worker pid 4242 is dead or hung",
    )


def test_a_missing_or_unreadable_health_file_is_unhealthy(tmp_path):
    path = tmp_path / "health.json"
    healthy, why = check_health_file(path, now=NOW)
    assert not healthy and why.startswith(f"no health file at {path}")
    for text in ("", "{half", "[]", '{"updated_at": "yesterday"}', json.dumps(status(consumers=None))):
        path.write_text(text)
        healthy, why = check_health_file(path, now=NOW)
        assert not healthy and why.startswith(f"cannot read the health file {path}: "), text


def test_the_health_file_is_replaced_whole_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "health.json"
    write_status(path, status())
    write_status(path, status(state="stopping"))
    assert [p.name for p in tmp_path.iterdir()] == ["health.json"]
    assert json.loads(path.read_text())["state"] == "stopping"
    # A monitoring agent running as another user may read it: it holds no secret.
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_the_health_file_is_written_at_once_on_a_wake_and_a_last_time_on_stop(tmp_path):
    path = tmp_path / "health.json"
    states = iter(["starting", "running", "stopped"])
    current = {"state": next(states)}
    health = HealthFile(path, lambda: dict(current), interval=3600)
    health.start()
    try:
        assert json.loads(path.read_text()) == {"state": "starting"}
        current["state"] = next(states)
        health.wake()
        wait_for(lambda: json.loads(path.read_text()) == {"state": "running"}, timeout=5)
    finally:
        current["state"] = next(states)
        health.stop()
    assert json.loads(path.read_text()) == {"state": "stopped"}
    assert not any(t.name == "worker-health" for t in threading.enumerate())


def test_a_failing_write_is_logged_once_and_the_worker_goes_on(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="worker")
    path = tmp_path / "gone" / "health.json"
    health = HealthFile(path, lambda: {"state": "running"}, interval=3600)
    health.write()
    health.write()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"cannot write the health file {path}: ")
    assert "No such file or directory" in warnings[0]
    path.parent.mkdir()
    health.write()
    assert json.loads(path.read_text()) == {"state": "running"}
    assert caplog.records[-1].getMessage() == f"the health file {path} is written again"


def test_a_worker_says_running_once_its_consumers_and_relay_work_and_names_a_consumer_that_stopped(
    broker_settings, session_factory, tmp_path
):
    """The health file of a real worker on the real broker: running and healthy, then one consumer
    whose connection is gone (its I/O thread ended) makes it unhealthy, naming the consumer."""
    path = tmp_path / "health.json"
    worker = RabbitWorker(broker_settings, session_factory, poll_interval=0.5, health_file=path)
    assert worker.health is not None
    worker.health.start()
    try:
        assert json.loads(path.read_text())["state"] == WorkerState.STARTING
        worker.start()
        wait_for(lambda: json.loads(path.read_text())["state"] == WorkerState.RUNNING, timeout=5)
        wait_for(lambda: check_health_file(path)[0], timeout=20)
        merge = next(c for c in worker.consumers if c.spec.name == "merge")
        merge.stop()
        merge.join(10)
        worker.health.write()  # instead of waiting for the next periodic write
        assert check_health_file(path) == (False, "consumer(s) merge not connected to the broker")
    finally:
        worker.stop()
        worker.health.stop()
    assert check_health_file(path) == (False, "stopped")
