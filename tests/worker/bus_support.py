"""Helpers for the bus tests (importable as `bus_support`: pytest puts this folder on sys.path)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pika
import pytest
from services_support import TEST_DB
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tiertrace.disclosure.models import DisclosureRequest

BROKER_URL = os.environ.get("TIERTRACE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RABBITMQCTL = shutil.which("rabbitmqctl")


def requires_postgresql() -> None:
    """Scale-out tests (worker processes sharing a database) run in the PostgreSQL pass of the suite."""
    if TEST_DB != "postgresql":
        pytest.skip("a scale-out test: it runs in the PostgreSQL pass (TIERTRACE_TEST_DB=postgresql)")


def rabbitmqctl(*args: str, node: str | None = None, env: dict[str, str] | None = None) -> str:
    """Run rabbitmqctl; returns stdout, raises CalledProcessError."""
    assert RABBITMQCTL is not None
    command = [RABBITMQCTL, *(["-n", node] if node else []), "-q", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60, env=env).stdout


def broker_reachable(url: str) -> str | None:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except Exception as exc:  # pika raises many kinds for "no broker"
        return f"RabbitMQ is not reachable at {url}: {exc!r}"
    connection.close()
    return None


def component(
    supplier: str | None, part_number: str, *, request: bool = True, quantity: float = 1.0
) -> dict[str, Any]:
    """A component line of a declaration payload."""
    return {
        "part_number": part_number,
        "supplier": supplier,
        "quantity": quantity,
        "request_disclosure": request,
    }


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll until `predicate()` is truthy; returns its value, fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(interval)


def open_request_for(
    session_factory: sessionmaker[Session], supplier_id: int, part_number: str
) -> Callable[[], DisclosureRequest | None]:
    """A predicate: the request addressed to `supplier_id` about `part_number`, once it exists."""

    def find() -> DisclosureRequest | None:
        with session_factory() as session:
            return session.scalar(
                select(DisclosureRequest).where(
                    DisclosureRequest.supplier_id == supplier_id, DisclosureRequest.part_number == part_number
                )
            )

    find.__name__ = f"a request to organisation {supplier_id} about {part_number}"
    return find


def count_rows(session_factory: sessionmaker[Session], model: Any, *criteria: Any) -> int:
    """How many rows of `model` match `criteria`."""
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0
