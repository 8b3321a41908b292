"""A chain whose rolled-up figures overflow the float range, for the out-of-range tests (importable as
`overflow_support`: pytest puts this folder on sys.path).

SHIP-1 (shipyard, program OVERFLOW)                         Ge 2 g                        tier 0
├── 2 x RADAR-1 (radar-maker)                                                           tier 1
│   └── 1e300 x BIG-1 (big-foundry)                          Ga 1e300 g, CN 50 % mined    tier 2
│       └── 1e10 x TINY-1 (tiny-mine)                        Nd 1e-9 g                    tier 3
└── 3 x SANE-1 (sane-smelter)                                Ga 0.5 g (chain_support)     tier 1

Every declared figure is finite, but RADAR-1's gallium is 1e300 x 1e300 g: out of range, there (where
the overflow starts: its own quantity puts it out) and in SHIP-1 above it. SHIP-1's other figures stay
exact: Ge 2 g, Nd 2 x 1e300 x 1e10 x 1e-9 = 2e301 g, gallium refined in CN 3 x 0.5 x 0.98 = 1.47 g
(SANE-1's, the only gallium processing country named) and no recycled gallium. TINY-1 sits
2 x 1e300 x 1e10 = 2e310 units deep in a ship: its quantity in the root is out of range too.
`correct_radar` files RADAR-1 again with 1 x BIG-1, after which every figure is finite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain_support import ga_line

PROGRAM = "OVERFLOW"
#: SHIP-1's exact figures once RADAR-1 is corrected: 2 x 1e300 g from BIG-1 plus SANE-1's 1.5 g.
CORRECTED_GA_G = 2e300


@dataclass
class OverflowChain:
    oem: Any
    radar: Any
    big: Any
    tiny: Any
    sane: Any
    authority: Any
    root: Any
    radar_part: Any
    big_part: Any
    tiny_part: Any
    sane_part: Any


def file_overflow_chain(
    make_org: Callable[..., Any], make_payload: Callable[..., dict[str, Any]], submit: Callable[..., Any]
) -> OverflowChain:
    """Register the organisations and submit the chain bottom up (each through the real service)."""
    oem = make_org("shipyard", name="Shipyard BV")
    radar = make_org("radar-maker", name="Radar Maker GmbH", country="DE")
    big = make_org("big-foundry", name="Big Foundry", country="PL")
    tiny = make_org("tiny-mine", name="Tiny Mine", country="SE")
    sane = make_org("sane-smelter", name="Sane Smelter", country="FI")
    authority = make_org("ministry", kind="authority", name="Ministry of Defence")
    tiny_part = submit(
        tiny, make_payload(tiny.slug, "TINY-1", materials=[{"material": "Nd", "mass_g": 1e-9}])
    )
    big_part = submit(
        big,
        make_payload(
            big.slug,
            "BIG-1",
            materials=[{"material": "Ga", "mass_g": 1e300, "extraction": [{"country": "CN", "share": 0.5}]}],
            components=[{"part_number": "TINY-1", "supplier": tiny.slug, "quantity": 1e10}],
        ),
    )
    radar_part = submit(radar, radar_payload(make_payload, radar.slug, big.slug, 1e300))
    sane_part = submit(sane, make_payload(sane.slug, "SANE-1", materials=[ga_line(0.5)]))
    root = submit(
        oem,
        make_payload(
            oem.slug,
            "SHIP-1",
            program=PROGRAM,
            materials=[{"material": "Ge", "mass_g": 2.0}],
            components=[
                {"part_number": "RADAR-1", "supplier": radar.slug, "quantity": 2},
                {"part_number": "SANE-1", "supplier": sane.slug, "quantity": 3},
            ],
        ),
    )
    return OverflowChain(
        oem, radar, big, tiny, sane, authority, root, radar_part, big_part, tiny_part, sane_part
    )


def radar_payload(
    make_payload: Callable[..., dict[str, Any]], radar: str, big: str, quantity: float, **fields: Any
) -> dict[str, Any]:
    """RADAR-1: `quantity` x BIG-1 and nothing of its own."""
    return make_payload(
        radar,
        "RADAR-1",
        components=[{"part_number": "BIG-1", "supplier": big, "quantity": quantity}],
        **fields,
    )


def correct_radar(
    chain: OverflowChain, make_payload: Callable[..., dict[str, Any]], submit: Callable[..., Any]
) -> Any:
    """The radar maker supersedes RADAR-1 with one BIG-1 per radar; returns the new declaration."""
    payload = radar_payload(make_payload, chain.radar.slug, chain.big.slug, 1, supersedes=chain.radar_part.id)
    return submit(chain.radar, payload)


def strict_json(text: str | bytes) -> Any:
    """`text` parsed as JSON that has no NaN or Infinity (Python's json module accepts both)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def assert_root_out_of_range(rollup: dict[str, Any]) -> None:
    """SHIP-1's rollup while RADAR-1 overflows: gallium out of range where RADAR-1 counts, the rest exact."""
    assert rollup["Ga"]["mass_g"] is None
    assert rollup["Ga"]["recycled_g"] == 0.0
    assert rollup["Ga"]["extraction"] == {"CN": None, "unknown": None}
    assert rollup["Ga"]["processing"] == {"CN": 1.47, "unknown": None}
    assert rollup["Ge"]["mass_g"] == 2.0
    assert rollup["Nd"]["mass_g"] == 2e301
    assert rollup["Nd"]["extraction"] == {"unknown": 2e301}
