"""The small radar chain the chain and audit tests file (importable as `chain_support`: pytest puts this
folder on sys.path).

ZEEHAVIK-1 (noordhaven, program ZEEHAVIK)                       tier 0
├── 10 x TRM-2040 (helder-sensors)  in response to the OEM       tier 1
│   └── 4 x MMIC-7 (lumen-compound)                              tier 2
│       └── 1 x GA-7N (jinlu-gallium)                            tier 3   Ga 0.3125 g: CN 80 % mined,
│                                                                         CN 98 % refined (Jinlu refinery)
├── 0.2 x FOIL-2 (no supplier slug: "Moselle Foil SA", LU)       tier 1   unknown_supplier
└── 1 x CASE-1 (ijssel-casings)                                  tier 1

Each fixture adds what its tests need (disclosure choices, the radar maker's own lines, requests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Who takes part, by role: slug, name, country, kind.
ORGANISATIONS = {
    "oem": ("noordhaven", "Noordhaven Naval Shipyards", "NL", "company"),
    "radar": ("helder-sensors", "Helder Sensor Systems", "NL", "company"),
    "fab": ("lumen-compound", "Lumen Compound Semiconductors", "DE", "company"),
    "smelter": ("jinlu-gallium", "Jinlu Alumina and Gallium", "CN", "company"),
    "riveter": ("rivet-works", "Rivet Works", "PL", "company"),
    "caser": ("ijssel-casings", "IJssel Casings", "NL", "company"),
    "stranger": ("elsewhere-bv", "Elsewhere BV", "BE", "company"),
    "authority": ("ministry", "Ministry of Defence", "NL", "authority"),
    "operator": ("portal-operator", "Portal Operator", "NL", "operator"),
}


def make_members(make_org: Callable[..., Any], *roles: str) -> dict[str, Any]:
    """Create the organisations of `roles` (keys of ORGANISATIONS), in that order; members by role."""
    members = {}
    for role in roles:
        slug, name, country, kind = ORGANISATIONS[role]
        members[role] = make_org(slug, name=name, country=country, kind=kind)
    return members


def ga_line(mass_g: float, facility: str | None = None) -> dict[str, Any]:
    """A gallium material line: 80 % extracted in CN, 98 % refined there."""
    return {
        "material": "Ga",
        "mass_g": mass_g,
        "extraction": [{"country": "CN", "share": 0.8}],
        "processing": [{"country": "CN", "share": 0.98, "facility": facility}],
        "recycled_share": 0.0,
    }


@dataclass
class Filed:
    """The declarations of the chain, root first."""

    root: Any
    trm: Any
    mmic: Any
    ga: Any


def file_radar_chain(
    members: Mapping[str, Any],
    make_payload: Callable[..., dict[str, Any]],
    submit: Callable[..., Any],
    trm_request_id: str,
    *,
    smelter_line: Mapping[str, Any] | None = None,
    trm_line: Mapping[str, Any] | None = None,
    radar_materials: Sequence[dict[str, Any]] = (),
    radar_components: Sequence[dict[str, Any]] = (),
) -> Filed:
    """Submit the chain bottom up: GA-7N, MMIC-7, TRM-2040 (answering `trm_request_id`), ZEEHAVIK-1.

    `smelter_line` and `trm_line` are extra fields of the component lines naming the smelter (in
    MMIC-7) and the radar maker (in ZEEHAVIK-1); `radar_materials` and `radar_components` are added to
    TRM-2040's own.
    """
    oem, radar, fab, smelter, caser = (members[r] for r in ("oem", "radar", "fab", "smelter", "caser"))
    ga = submit(smelter, make_payload(smelter.slug, "GA-7N", materials=[ga_line(0.3125, "Jinlu refinery")]))
    mmic = submit(
        fab,
        make_payload(
            fab.slug,
            "MMIC-7",
            components=[
                {"part_number": "GA-7N", "supplier": smelter.slug, "quantity": 1, **(smelter_line or {})}
            ],
        ),
    )
    trm = submit(
        radar,
        make_payload(
            radar.slug,
            "TRM-2040",
            in_response_to=trm_request_id,
            materials=list(radar_materials),
            components=[
                {"part_number": "MMIC-7", "supplier": fab.slug, "quantity": 4, "request_disclosure": True},
                *radar_components,
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
                {"part_number": "TRM-2040", "supplier": radar.slug, "quantity": 10, **(trm_line or {})},
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
    return Filed(root, trm, mmic, ga)
