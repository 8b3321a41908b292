"""Fixtures for the bus tests: a RabbitMQ vhost per test run, a queue prefix per test, chain helpers.

The broker is the machine's real RabbitMQ (127.0.0.1:5672, or TIERTRACE_TEST_AMQP_URL). Each run gets
its own vhost, created with rabbitmqctl and deleted afterwards; each test its own name prefix inside it.
Locally a missing broker skips the test with the reason; with CI=true it fails.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from bus_support import (
    BROKER_URL,
    RABBITMQCTL,
    broker_reachable,
    component,
    open_request_for,
    rabbitmqctl,
    wait_for,
)
from services_support import service_missing
from sqlalchemy.orm import Session, sessionmaker

from tiertrace.config import Settings
from tiertrace.disclosure.models import DisclosureRequest


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """The URL of a vhost of its own on the machine's broker, deleted after the run."""
    problem = broker_reachable(BROKER_URL)
    if problem:
        service_missing(problem)
    if RABBITMQCTL is None:
        service_missing("rabbitmqctl is not on PATH; it is needed to create a vhost per test run")
    vhost = f"tiertrace-test-{uuid.uuid4().hex[:10]}"
    try:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except subprocess.CalledProcessError as exc:
        service_missing(f"cannot create a RabbitMQ vhost with rabbitmqctl: {exc.stderr}")
    base = BROKER_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{quote(vhost, safe='')}"
    finally:
        subprocess.run(
            [RABBITMQCTL, "-q", "delete_vhost", vhost], capture_output=True, timeout=60, check=False
        )


@pytest.fixture
def bus_prefix() -> str:
    """A name prefix for this test's exchange and queues."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def broker_settings(settings: Settings, amqp_url: str, bus_prefix: str) -> Settings:
    """Settings for the scale-out mode: this run's vhost, this test's prefix."""
    return replace(settings, amqp_url=amqp_url, bus_prefix=bus_prefix)


@pytest.fixture
def five_tier_chain(
    make_org: Callable[..., Any],
    make_payload: Callable[..., dict[str, Any]],
    submit: Callable[..., Any],
    session_factory: sessionmaker[Session],
) -> Callable[[], dict[str, Any]]:
    """Play a five-tier chain through whatever bus is running: the OEM declares its product, and each
    tier answers the request the bus forwarded to it, down to a Tier-4 mine that buys nothing.

    Returns the organisations, the declarations and the forwarded requests, tier by tier.
    """

    def play() -> dict[str, Any]:
        members = [make_org(f"tier{i}-{uuid.uuid4().hex[:6]}") for i in range(5)]
        declarations = []
        requests: list[DisclosureRequest] = []
        for tier, member in enumerate(members):
            part = f"P{tier}"
            components = [component(members[tier + 1].slug, f"P{tier + 1}")] if tier < 4 else []
            fields: dict[str, Any] = {"components": components}
            if tier == 0:
                fields["program"] = "ZEEHAVIK"
            else:
                fields["in_response_to"] = requests[-1].id
            declarations.append(submit(member, make_payload(member.slug, part, **fields)))
            if tier < 4:
                requests.append(
                    wait_for(
                        open_request_for(session_factory, members[tier + 1].organization.id, f"P{tier + 1}")
                    )
                )
        return {"members": members, "declarations": declarations, "requests": requests}

    return play
