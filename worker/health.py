"""The worker's health file: what a running worker is doing, for `tiertrace worker --check`.

A worker started with `--health-file PATH` (or TIERTRACE_WORKER_HEALTH_FILE) rewrites PATH every
`WRITE_INTERVAL` seconds and at once when its state changes. Each write goes to a temporary file in the
same folder, renamed over PATH, so a reader never sees half a file. `--check` reads it: no port is
opened on the worker, and the check itself needs neither the database nor the broker.

The file is a JSON object::

    {"pid": 4242, "state": "running", "reason": null,
     "started_at": "2026-11-28T09:00:00+00:00", "updated_at": "2026-11-28T09:12:03+00:00",
     "consumers": {"propagate": true, "merge": true, "notify": true},
     "relay": {"publisher_connected": true, "last_pass_at": "2026-11-28T09:12:02+00:00"}}

`consumers` says per consumer whether it is connected to the broker with all its threads alive;
`relay` is null in a worker started with `--no-relay`; `last_pass_at` is when the oldest relay lane
last finished a pass (null before the first).
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Seconds between two writes of the health file while nothing changes.
WRITE_INTERVAL = 5.0
#: Seconds after which `--check` takes an unchanged health file, or a relay that finished no pass, for
#: a dead or hung worker. Several write intervals, so that one slow write is no alarm.
DEFAULT_MAX_AGE = 30.0


class WorkerState(enum.StrEnum):
    """What a worker process is doing; only RUNNING is healthy."""

    STARTING = "starting"
    WAITING_FOR_DATABASE = "waiting for database"
    WAITING_FOR_BROKER = "waiting for broker"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


def timestamp(seconds: float) -> str:
    """`seconds` since the epoch as an RFC 3339 UTC timestamp."""
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def write_status(path: Path, status: dict[str, Any]) -> None:
    """Replace the file at `path` with `status`, atomically (a temporary file renamed over it)."""
    file = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed below, before the rename)
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    )
    try:
        with file:
            # Readable by a monitoring agent running as another user: it holds no secret.
            os.fchmod(file.fileno(), 0o644)
            json.dump(status, file)
        os.replace(file.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(file.name)
        raise


class HealthFile:
    """Keeps a health file up to date from a thread: every `interval` seconds and after each `wake`."""

    def __init__(
        self, path: Path, snapshot: Callable[[], dict[str, Any]], *, interval: float = WRITE_INTERVAL
    ) -> None:
        self.path = path
        self.snapshot = snapshot
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False  # say once that writing fails, and once that it works again

    def start(self) -> None:
        """Write the file now, then keep it up to date until `stop`."""
        self.write()
        self._thread = threading.Thread(target=self._run, name="worker-health", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Write the file soon (the state changed). Thread-safe, never blocks."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread, then write the file one last time."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        self.write()

    def write(self) -> None:
        """Write the snapshot now. A failure (a full disk, a folder that went away) is logged, not
        raised: the worker goes on, and the check reports the file as stale."""
        try:
            write_status(self.path, self.snapshot())
        except OSError as exc:
            if not self._failing:
                log.warning("cannot write the health file %s: %s", self.path, exc)
            self._failing = True
            return
        if self._failing:
            log.info("the health file %s is written again", self.path)
        self._failing = False

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._stopping.is_set():
                self.write()


def check_health_file(
    path: Path, *, max_age: float = DEFAULT_MAX_AGE, now: float | None = None
) -> tuple[bool, str]:
    """Whether the worker writing `path` is healthy, and why, in one line.

    Unhealthy: no readable health file; a file older than `max_age` seconds (the worker died or
    hangs); a state other than running; a consumer not connected; a relay whose publisher is not
    connected or that finished no pass for `max_age` seconds.
    """
    now = datetime.now(UTC).timestamp() if now is None else now
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
        age = now - _seconds(status["updated_at"])
        problem = _problem(status, age, now, max_age)
    except FileNotFoundError:
        return False, f"no health file at {path}: the worker is not running, or not with this health file"
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return False, f"cannot read the health file {path}: {type(exc).__name__}: {exc}"
    if problem is not None:
        return False, problem
    return True, f"worker pid {status['pid']} is running (health file written {age:.0f} s ago)"


def _problem(status: dict[str, Any], age: float, now: float, max_age: float) -> str | None:
    if age > max_age:
        return (
            f"the health file was last written {age:.0f} s ago (more than {max_age:g} s): "
            f"worker pid {status['pid']} is dead or hung"
        )
    if status["state"] != WorkerState.RUNNING:
        return status["state"] + (f" ({status['reason']})" if status["reason"] else "")
    idle = sorted(name for name, connected in status["consumers"].items() if not connected)
    if idle:
        return f"consumer(s) {', '.join(idle)} not connected to the broker"
    relay = status["relay"]
    if relay is not None:
        if not relay["publisher_connected"]:
            return "the relay's publisher is not connected to the broker"
        if relay["last_pass_at"] is None:
            return "the relay has not finished a pass yet"
        since = now - _seconds(relay["last_pass_at"])
        if since > max_age:
            return f"the relay has not finished a pass for {since:.0f} s (more than {max_age:g} s)"
    return None


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
