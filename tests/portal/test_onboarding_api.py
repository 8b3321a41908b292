"""GET /api/v1/organizations/onboarding: the operator's list of organisations to onboard."""

from __future__ import annotations

from typing import Any

import pytest

URL = "/api/v1/organizations/onboarding"


def moselle(part_number: str = "FOIL-2", name: str = "Moselle Foil SA") -> dict[str, Any]:
    return {
        "part_number": part_number,
        "supplier": None,
        "supplier_name": name,
        "supplier_country": "LU",
        "quantity": 0.2,
        "request_disclosure": True,
    }


@pytest.fixture
def world(client, make_org, make_payload, sign) -> dict[str, Any]:
    """Two companies whose current declarations name Moselle Foil SA, which is not on the portal, and
    every other kind of caller."""
    members = {
        "helder": make_org("helder"),
        "noord": make_org("noord"),
        "authority": make_org("ministry", kind="authority"),
        "operator": make_org("operator", kind="operator"),
    }
    accepted = []
    for slug, part, name in (
        ("helder", "TRM-2040", "Moselle Foil SA"),
        ("noord", "HULL-7", "moselle  foil sa"),
    ):
        payload = make_payload(slug, part, components=[moselle(name=name)])
        answer = client.post(
            "/api/v1/declarations", data=sign(members[slug], payload), headers=members[slug].headers
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
        accepted.append(answer.get_json())
    return {"members": members, "accepted": accepted}


def test_the_operator_reads_each_named_supplier_once_with_counts(client, world):
    answer = client.get(URL, headers=world["members"]["operator"].headers)

    assert answer.status_code == 200
    body = answer.get_json()
    assert body["next"] is None
    [entry] = body["items"]
    assert entry == {
        "name": "Moselle Foil SA",
        "country": "LU",
        "declarations": 2,
        "organizations": 2,
        "first_named_at": entry["first_named_at"],
        "last_named_at": entry["last_named_at"],
        "registered_as": None,
    }
    assert entry["first_named_at"] <= entry["last_named_at"]


def test_the_answer_tells_the_operator_nothing_of_who_buys_from_whom(client, world):
    text = client.get(URL, headers=world["members"]["operator"].headers).get_data(as_text=True)

    for secret in ("helder", "noord", "TRM-2040", "HULL-7", "FOIL-2", *(a["id"] for a in world["accepted"])):
        assert secret not in text


def test_a_supplier_the_operator_has_registered_is_marked_with_its_slug(client, world):
    operator = world["members"]["operator"].headers
    created = client.post(
        "/api/v1/organizations",
        json={"slug": "moselle-foil", "name": "Moselle Foil S.A.", "country": "LU", "kind": "company"},
        headers=operator,
    )
    assert created.status_code == 201
    assert client.get(URL, headers=operator).get_json()["items"][0]["registered_as"] is None  # another name

    client.post(
        "/api/v1/organizations",
        json={"slug": "moselle", "name": "MOSELLE FOIL SA", "country": "LU", "kind": "company"},
        headers=operator,
    )

    [entry] = client.get(URL, headers=operator).get_json()["items"]
    assert (entry["name"], entry["registered_as"], entry["declarations"]) == ("Moselle Foil SA", "moselle", 2)


@pytest.mark.parametrize("caller", ["helder", "authority"])
def test_other_kinds_of_caller_get_the_404_of_a_resource_they_may_not_see(client, world, caller):
    answer = client.get(URL, headers=world["members"][caller].headers)

    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"
    assert "Moselle" not in answer.get_data(as_text=True)


def test_without_a_token_the_list_answers_401(client, world):
    answer = client.get(URL)

    assert answer.status_code == 401
    assert "Moselle" not in answer.get_data(as_text=True)


def test_an_empty_portal_lists_nothing(client, make_org):
    operator = make_org("operator", kind="operator")

    assert client.get(URL, headers=operator.headers).get_json() == {"items": [], "next": None}


def test_the_list_is_in_the_openapi_document_with_its_schema(client):
    spec = client.get("/api/v1/openapi.json").get_json()

    operation = spec["paths"][URL]["get"]
    assert set(operation["responses"]) >= {"200", "404"}
    entry = spec["components"]["schemas"]["SupplierToOnboard"]["properties"]
    assert set(entry) == {
        "name",
        "country",
        "declarations",
        "organizations",
        "first_named_at",
        "last_named_at",
        "registered_as",
    }


def test_an_organisation_registered_without_a_kind_is_a_company(client, make_org, session_factory):
    """As `tiertrace org create` without --kind; before, the API answered 422 "missing field"."""
    operator = make_org("operator", kind="operator")
    created = client.post(
        "/api/v1/organizations",
        json={"slug": "moselle", "name": "Moselle Foil SA", "country": "LU"},
        headers=operator.headers,
    )
    assert created.status_code == 201
    token = created.get_json()["token"]
    me = client.get("/api/v1/organizations/me", headers={"Authorization": f"Bearer {token}"})
    assert (me.get_json()["slug"], me.get_json()["kind"]) == ("moselle", "company")
