"""Fixtures for the web pages: people with passwords, signing in, and the CSRF token of a page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from web_helpers import PASSWORD, Person, log_in

from tiertrace.organizations.accounts import accept_invite, create_user
from tiertrace.organizations.models import Organization


@pytest.fixture
def make_person(session_factory: sessionmaker[Session]) -> Callable[..., Person]:
    """Create (and commit) an account for `member`'s organisation with a password already set."""

    def make(member: Any, email: str | None = None, password: str = PASSWORD) -> Person:
        email = email or f"{uuid.uuid4().hex[:8]}@{member.slug}.example"
        with session_factory() as session:
            organization = session.get(Organization, member.organization.id)
            invitation = create_user(session, organization, email)
            accept_invite(session, invitation.token, password)
            session.commit()
        return Person(email, password, member)

    return make


@pytest.fixture
def signed_in(client: Any, make_person: Callable[..., Person]) -> Callable[..., Person]:
    """Make a person of `member` and sign them in on `client`."""

    def do(member: Any, **kwargs: Any) -> Person:
        person = make_person(member, **kwargs)
        answer = log_in(client, person)
        assert answer.status_code == 302, answer.get_data(as_text=True)
        return person

    return do


@pytest.fixture
def bus(settings: Any, session_factory: sessionmaker[Session]) -> Any:
    """The embedded bus, so requests travel up the tiers and rollups merge; `bus.drain()` waits for it."""
    from worker.embedded import start_embedded_bus

    running = start_embedded_bus(settings, session_factory, poll_interval=0.2, webhooks=False)
    yield running
    running.stop()
