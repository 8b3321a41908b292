"""Who is a customer of an older version: DESIGN counts the organisations whose requests a declaration
answers, "or answered through a version it supersedes" - customers carry forward to newer versions,
never back to older ones."""

from __future__ import annotations

from typing import Any

GA_LINE = {"material": "Ga", "mass_g": 0.84, "extraction": [{"country": "CN", "share": 0.9}]}


def post(client: Any, member: Any, body: bytes) -> Any:
    return client.post("/api/v1/declarations", data=body, headers=member.headers)


def ask(client: Any, requester: Any, supplier: str, part: str) -> str:
    answer = client.post(
        "/api/v1/requests", json={"supplier": supplier, "part_number": part}, headers=requester.headers
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def test_a_customer_of_the_new_version_only_does_not_read_the_old_one(client, make_org, make_payload, sign):
    """c2 became a customer when x was already on v2. It used to read v1 and its chain too, and learn
    the sub-supplier v1 disclosed to its own requesters (c1) only."""
    c1, c2, x = make_org("c1"), make_org("c2"), make_org("x")
    make_org("s-one")
    listing = {
        "part_number": "SUB-1",
        "supplier": "s-one",
        "quantity": 1,
        "disclose_supplier_to": ["requester"],
    }
    v1 = make_payload(
        "x", "PX", in_response_to=ask(client, c1, "x", "PX"), materials=[GA_LINE], components=[listing]
    )
    assert post(client, x, sign(x, v1)).status_code == 201
    v2 = make_payload("x", "PX", supersedes=v1["id"], materials=[GA_LINE])
    assert post(client, x, sign(x, v2)).status_code == 201
    later = ask(client, c2, "x", "PX")
    answered = client.post(
        f"/api/v1/requests/{later}/answer", json={"declaration_id": v2["id"]}, headers=x.headers
    )
    assert answered.status_code == 200, answered.get_json()

    def status(member: Any, path: str) -> int:
        return client.get(path, headers=member.headers).status_code

    assert status(c2, f"/api/v1/declarations/{v2['id']}") == 200
    assert status(c2, f"/api/v1/declarations/{v1['id']}") == 404
    assert status(c2, f"/api/v1/chains/{v1['id']}") == 404
    # c1 asked before v2: a customer of v1, and through it of v2.
    for path in (
        f"/api/v1/declarations/{v1['id']}",
        f"/api/v1/chains/{v1['id']}",
        f"/api/v1/declarations/{v2['id']}",
    ):
        assert status(c1, path) == 200
