"""Fixtures for the chain tests: the merge consumer played over the outbox, and `chain_support`'s radar
chain with its disclosure choices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from chain_support import file_radar_chain, ga_line, make_members
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tiertrace.chains.services import handle_event
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from tiertrace.outbox.models import OutboxEvent


@pytest.fixture(name="ga_line")
def ga_line_fixture() -> Callable[..., dict[str, Any]]:
    """A gallium material line: 80 % extracted in CN, 98 % refined there."""
    return ga_line


@pytest.fixture
def play_events(session_factory: sessionmaker[Session]) -> Callable[[], int]:
    """Run the merge consumer over outbox events it has not seen yet, each in its own transaction."""
    seen: set[int] = set()

    def play() -> int:
        with session_factory() as session:
            events = [
                (event.seq, event.type, event.payload)
                for event in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))
                if event.seq not in seen
            ]
        for seq, event_type, payload in events:
            with session_factory() as session:
                handle_event(session, event_type, payload)
                session.commit()
            seen.add(seq)
        return len(events)

    return play


@dataclass
class RadarChain:
    """DESIGN's radar chain in small: OEM -> radar (TRM) -> fab (MMIC) -> smelter (Ga), plus gaps.

    The OEM asked the radar maker, which answered and lists the fab for the authority only; the fab lists
    the smelter for the whole chain. The OEM also lists a foil supplier that is not on the portal and a
    casing whose supplier has not answered.
    """

    oem: Any
    radar: Any
    fab: Any
    smelter: Any
    caser: Any
    stranger: Any
    authority: Any
    operator: Any
    root: Any
    trm: Any
    mmic: Any
    ga: Any


@pytest.fixture
def radar_chain(make_org, make_payload, submit, session_factory, play_events) -> RadarChain:
    members = make_members(
        make_org, "oem", "radar", "fab", "smelter", "caser", "stranger", "authority", "operator"
    )
    with session_factory() as session:
        requester = session.get(Organization, members["oem"].organization.id)
        request = create_request(
            session, requester, supplier_slug=members["radar"].slug, part_number="TRM-2040"
        )
        session.commit()
        request_id = request.id
    filed = file_radar_chain(
        members,
        make_payload,
        submit,
        request_id,
        smelter_line={"disclose_supplier_to": ["chain"]},
        trm_line={"disclose_supplier_to": ["chain"]},
    )
    play_events()
    return RadarChain(**members, root=filed.root, trm=filed.trm, mmic=filed.mmic, ga=filed.ga)
