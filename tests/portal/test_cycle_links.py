"""A component that closes a cycle is linked to its supplier's current declaration, over the API and the
embedded bus, whether or not the declarations answered the requests that went round the cycle.

r asks a for PA; a lists b's PB (and w's PW, whose supplier a discloses to its customers); the bus asks
b for PB; b lists a's PA. b is then one of a's customers for PA, as it is when nobody used
`in_response_to`; the chain of r's root still stops at the cycle.
"""

from __future__ import annotations

from typing import Any

import pytest


def node_rows(view: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(tier, quantity, kind, gap, supplier slug, undisclosed) of every node, sorted."""
    return sorted(
        (
            n["tier"],
            n["quantity"],
            n["kind"],
            n["gap"] or "",
            (n["supplier"] or {}).get("slug", ""),
            n["undisclosed"],
        )
        for n in view["nodes"]
    )


@pytest.mark.parametrize("in_response_to", [True, False], ids=["in-response-to", "plain"])
def test_the_component_that_closes_a_cycle_makes_its_lister_a_customer_of_the_declaration(
    client, make_org, make_payload, sign, settings, session_factory, in_response_to
):
    from worker.embedded import start_embedded_bus

    r, a, b, _w = make_org("r-yard"), make_org("a-radar"), make_org("b-fab"), make_org("w-wafer")

    def declare(member, payload) -> str:
        answer = client.post("/api/v1/declarations", data=sign(member, payload), headers=member.headers)
        assert answer.status_code == 201, answer.get_json()
        return payload["id"]

    def incoming(member, part: str, requester: str) -> list[dict[str, Any]]:
        page = client.get("/api/v1/requests?box=incoming", headers=member.headers).get_json()
        return [q for q in page["items"] if q["part_number"] == part and q["requester"] == requester]

    bus = start_embedded_bus(settings, session_factory)
    try:
        asked = None
        if in_response_to:
            asked = client.post(
                "/api/v1/requests", json={"supplier": "a-radar", "part_number": "PA"}, headers=r.headers
            ).get_json()["id"]
        pa = declare(
            a,
            make_payload(
                "a-radar",
                "PA",
                in_response_to=asked,
                components=[
                    {"part_number": "PB", "supplier": "b-fab", "quantity": 2, "request_disclosure": True},
                    {
                        "part_number": "PW",
                        "supplier": "w-wafer",
                        "quantity": 1,
                        "request_disclosure": True,
                        "disclose_supplier_to": ["requester"],
                    },
                ],
            ),
        )
        bus.drain(30)
        [to_b] = incoming(b, "PB", "a-radar")
        assert to_b["status"] == "open"
        pb = declare(
            b,
            make_payload(
                "b-fab",
                "PB",
                in_response_to=to_b["id"] if in_response_to else None,
                components=[
                    {"part_number": "PA", "supplier": "a-radar", "quantity": 3, "request_disclosure": True}
                ],
            ),
        )
        bus.drain(30)
    finally:
        bus.stop()

    # b's component was linked to a's declaration, answered at once: a was asked nothing.
    [link] = incoming(a, "PA", "b-fab")
    assert (link["status"], link["declaration_id"]) == ("answered", pa)
    assert link["parent_id"] == (to_b["id"] if in_response_to else None)
    # So b is a customer of a's PA: it reads the declaration and its chain ...
    assert client.get(f"/api/v1/declarations/{pa}", headers=b.headers).status_code == 200
    as_b = client.get(f"/api/v1/chains/{pa}", headers=b.headers)
    assert as_b.status_code == 200
    # ... which stops where it re-enters PA.
    assert node_rows(as_b.get_json()) == [
        (0, 1, "declaration", "", "a-radar", False),
        (1, 1, "gap", "open", "w-wafer", False),
        (1, 2, "declaration", "", "b-fab", False),
        (2, 3, "gap", "cycle", "a-radar", False),
    ]
    # In b's own chain, a's supplier disclosed to a's customers is shown to b.
    own = client.get(f"/api/v1/chains/{pb}", headers=b.headers)
    assert node_rows(own.get_json()) == [
        (0, 1, "declaration", "", "b-fab", False),
        (1, 3, "declaration", "", "a-radar", False),
        (2, 1, "gap", "open", "w-wafer", False),
        (2, 2, "gap", "cycle", "b-fab", False),
    ]
    if in_response_to:
        # The chain of the answer r asked for still ends in a cycle gap, redacted for r as before (a keeps
        # b for the authority, b keeps a; r, a's customer, sees w).
        view = client.get(f"/api/v1/chains/{pa}", headers=r.headers).get_json()
        assert node_rows(view) == [
            (0, 1, "declaration", "", "a-radar", False),
            (1, 1, "gap", "open", "w-wafer", False),
            (1, 2, "declaration", "", "", True),
            (2, 3, "gap", "cycle", "", True),
        ]
        assert view["coverage"]["components_total"] == 3 and view["coverage"]["components_declared"] == 1
