"""Figures beyond the float range over HTTP: refused on filing when a declaration's own lines overflow,
null (never Infinity) in the chain view when the merge overflows."""

from __future__ import annotations

from typing import Any

import pytest
from overflow_support import assert_root_out_of_range, file_overflow_chain, strict_json
from sqlalchemy import func, select

from tiertrace.declarations.models import Declaration
from tiertrace.outbox.models import OutboxEvent


def stored(session_factory: Any) -> tuple[int, int]:
    with session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Declaration)),
            session.scalar(select(func.count()).select_from(OutboxEvent)),
        )


def post(client: Any, member: Any, envelope: bytes) -> Any:
    return client.post(
        "/api/v1/declarations", data=envelope, headers={**member.headers, "Content-Type": "application/json"}
    )


def test_lines_of_one_material_adding_up_beyond_the_float_range_are_422_naming_the_material(
    client, make_org, make_payload, sign, session_factory
):
    supplier = make_org("lumen")
    lines = [
        {"material": "Ge", "mass_g": 1e308},
        {"material": "Ga", "mass_g": 1e308},
        {"material": "Ge", "mass_g": 1.0},
        {"material": "Ga", "mass_g": 1e308},
    ]
    answer = post(client, supplier, sign(supplier, make_payload("lumen", materials=lines)))

    assert answer.status_code == 422, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["code"] == "payload_invalid"
    assert error["details"] == {
        "materials.3.mass_g": "the Ga lines add up to more than 1.798e+308 g, beyond the range of a number: "
        "declare the mass of one unit of the part"
    }
    assert stored(session_factory) == (0, 0)


@pytest.mark.parametrize("mass", [10**400, -(10**400)], ids=["positive", "negative"])
def test_a_mass_written_as_an_integer_beyond_the_float_range_is_422(
    client, make_org, make_payload, sign, session_factory, mass
):
    supplier = make_org("lumen")
    payload = make_payload("lumen", materials=[{"material": "Ga", "mass_g": mass}])
    answer = post(client, supplier, sign(supplier, payload))  # json.dumps writes all 401 digits

    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert set(answer.get_json()["error"]["details"]) == {"materials.0.mass_g"}
    assert stored(session_factory) == (0, 0)


def test_the_chain_view_of_an_overflowing_chain_is_strict_json_with_nulls(
    client, make_org, make_payload, submit
):
    chain = file_overflow_chain(make_org, make_payload, submit)

    answer = client.get(f"/api/v1/chains/{chain.root.id}", headers=chain.authority.headers)

    assert answer.status_code == 200
    view = strict_json(answer.get_data())
    assert_root_out_of_range(view["rollup"])
    assert view["coverage"]["traced"]["Ga"] == {"extraction": None, "processing": None}
    assert [n["quantity_in_root"] for n in view["nodes"] if n["part_number"] == "TINY-1"] == [None]
