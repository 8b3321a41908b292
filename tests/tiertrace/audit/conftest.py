"""A small frigate programme filed through the real services, for the audit report tests: the radar
chain of `chain_support` with the radar maker's own lines, requests, a decline and the overdue sweep.

ZEEHAVIK-1 (noordhaven, program ZEEHAVIK)                       tier 0
├── 10 x TRM-2040 (helder-sensors)  answered the OEM's request   tier 1   W 2 g: CN 50 % mined,
│   │                                                                     refined CN 70 % / AT 30 %
│   ├── 4 x MMIC-7 (lumen-compound)                              tier 2
│   │   └── 1 x GA-7N (jinlu-gallium)                            tier 3   Ga 0.3125 g: CN 80 % mined,
│   │                                                                     CN 98 % refined (Jinlu refinery)
│   └── 1 x HOUSING-3 (rivet-works)  asked, never answered       tier 2   -> overdue after the sweep
├── 0.2 x FOIL-2 (no supplier slug: "Moselle Foil SA", LU)       tier 1   unknown_supplier
└── 1 x CASE-1 (ijssel-casings)      asked, declined             tier 1   declined
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from chain_support import file_radar_chain, make_members
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tiertrace.chains.services import refresh_rollups
from tiertrace.declarations.models import Declaration
from tiertrace.disclosure.overdue import run_overdue_sweep
from tiertrace.disclosure.services import create_request, decline_request
from tiertrace.organizations.models import Organization

#: The clock of the programme: requests are made at T0 and due a week later.
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DUE = date(2025, 3, 10)
#: When the report is read: after the due date, within the escalation grace.
LATER = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def materialise_all(session_factory: sessionmaker[Session]) -> None:
    """Run the merge over every current declaration (what the merge consumer does event by event)."""
    with session_factory() as session:
        ids = session.scalars(select(Declaration.id).where(Declaration.is_current.is_(True))).all()
        refresh_rollups(session, ids)
        session.commit()


@pytest.fixture
def materialise(session_factory: sessionmaker[Session]) -> Callable[[], None]:
    """Call to run the merge over every current declaration, as the merge consumer would have."""
    return lambda: materialise_all(session_factory)


@dataclass
class Frigate:
    oem: Any
    radar: Any
    fab: Any
    smelter: Any
    riveter: Any
    caser: Any
    authority: Any
    root: Any
    trm: Any
    mmic: Any
    ga: Any
    requests: dict[str, str]
    #: When the tests read the report: after the sweep marked the riveter's request overdue.
    later: datetime = LATER


def ask(session_factory, requester, supplier, part_number) -> str:
    with session_factory() as session:
        organization = session.get(Organization, requester.organization.id)
        request = create_request(
            session, organization, supplier_slug=supplier.slug, part_number=part_number, due_date=DUE, now=T0
        )
        session.commit()
        return request.id


@pytest.fixture
def frigate(make_org, make_payload, submit, session_factory, settings) -> Frigate:
    members = make_members(make_org, "oem", "radar", "fab", "smelter", "riveter", "caser", "authority")
    oem, radar, riveter, caser = (members[r] for r in ("oem", "radar", "riveter", "caser"))
    requests = {
        "trm": ask(session_factory, oem, radar, "TRM-2040"),
        "case": ask(session_factory, oem, caser, "CASE-1"),
        "housing": ask(session_factory, radar, riveter, "HOUSING-3"),
    }
    with session_factory() as session:
        decline_request(
            session,
            session.get(Organization, caser.organization.id),
            requests["case"],
            "export control",
            now=T0 + timedelta(days=1),
        )
        session.commit()
    filed = file_radar_chain(
        members,
        make_payload,
        submit,
        requests["trm"],
        trm_line={"request_disclosure": True},
        radar_materials=[
            {
                "material": "W",
                "mass_g": 2,
                "extraction": [{"country": "CN", "share": 0.5}],
                "processing": [{"country": "CN", "share": 0.7}, {"country": "AT", "share": 0.3}],
            }
        ],
        radar_components=[
            {"part_number": "HOUSING-3", "supplier": riveter.slug, "quantity": 1, "request_disclosure": True}
        ],
    )
    with session_factory() as session:
        run_overdue_sweep(session, LATER, settings)
        session.commit()
    materialise_all(session_factory)
    return Frigate(**members, root=filed.root, trm=filed.trm, mmic=filed.mmic, ga=filed.ga, requests=requests)
