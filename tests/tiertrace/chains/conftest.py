"""Fixtures for the chain tests: the merge consumer played over the outbox, and a small radar chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tiertrace.chains.services import handle_event
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from tiertrace.outbox.models import OutboxEvent


def ga_line(mass_g: float, facility: str | None = None) -> dict[str, Any]:
    return {
        "material": "Ga",
        "mass_g": mass_g,
        "extraction": [{"country": "CN", "share": 0.8}],
        "processing": [{"country": "CN", "share": 0.98, "facility": facility}],
        "recycled_share": 0.0,
    }


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
    oem = make_org("noordhaven", name="Noordhaven Naval Shipyards", country="NL")
    radar = make_org("helder-sensors", name="Helder Sensor Systems", country="NL")
    fab = make_org("lumen-compound", name="Lumen Compound Semiconductors", country="DE")
    smelter = make_org("jinlu-gallium", name="Jinlu Alumina and Gallium", country="CN")
    caser = make_org("ijssel-casings", name="IJssel Casings", country="NL")
    stranger = make_org("elsewhere-bv", name="Elsewhere BV", country="BE")
    authority = make_org("ministry", name="Ministry of Defence", country="NL", kind="authority")
    operator = make_org("portal-operator", name="Portal Operator", country="NL", kind="operator")

    with session_factory() as session:
        requester = session.get(Organization, oem.organization.id)
        request = create_request(session, requester, supplier_slug=radar.slug, part_number="TRM-2040")
        session.commit()
        request_id = request.id

    ga = submit(smelter, make_payload(smelter.slug, "GA-7N", materials=[ga_line(0.3125, "Jinlu refinery")]))
    mmic = submit(
        fab,
        make_payload(
            fab.slug,
            "MMIC-7",
            components=[
                {
                    "part_number": "GA-7N",
                    "supplier": smelter.slug,
                    "quantity": 1,
                    "disclose_supplier_to": ["chain"],
                }
            ],
        ),
    )
    trm = submit(
        radar,
        make_payload(
            radar.slug,
            "TRM-2040",
            in_response_to=request_id,
            components=[
                {"part_number": "MMIC-7", "supplier": fab.slug, "quantity": 4, "request_disclosure": True}
            ],
        ),
    )
    root = submit(
        oem,
        make_payload(
            oem.slug,
            "ZEEHAVIK-1",
            program="ZEEHAVIK",
            components=[
                {
                    "part_number": "TRM-2040",
                    "supplier": radar.slug,
                    "quantity": 10,
                    "disclose_supplier_to": ["chain"],
                },
                {
                    "part_number": "FOIL-2",
                    "supplier": None,
                    "supplier_name": "Moselle Foil SA",
                    "supplier_country": "LU",
                    "quantity": 0.2,
                    "request_disclosure": True,
                },
                {"part_number": "CASE-1", "supplier": caser.slug, "quantity": 1, "request_disclosure": True},
            ],
        ),
    )
    play_events()
    return RadarChain(oem, radar, fab, smelter, caser, stranger, authority, operator, root, trm, mmic, ga)
