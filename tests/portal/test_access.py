"""Every API v1 endpoint against every kind of caller: owner, customer, unrelated company,
authority, operator and no token."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tiertrace import signing
from tiertrace.organizations.models import SigningKey

CALLERS = ("owner", "customer", "unrelated", "authority", "operator", "anonymous")


@pytest.fixture
def world(client, make_org, make_payload, sign) -> dict[str, Any]:
    """A supplier ("owner") that answered a request of an OEM ("customer"), and the others."""
    members = {
        "owner": make_org("supplier"),
        "customer": make_org("oem"),
        "unrelated": make_org("bystander"),
        "authority": make_org("ministry", kind="authority"),
        "operator": make_org("operator", kind="operator"),
    }
    request = client.post(
        "/api/v1/requests",
        json={"supplier": "supplier", "part_number": "P-1"},
        headers=members["customer"].headers,
    ).get_json()
    payload = make_payload("supplier", "P-1", in_response_to=request["id"])
    answer = client.post(
        "/api/v1/declarations", data=sign(members["owner"], payload), headers=members["owner"].headers
    )
    assert answer.status_code == 201
    open_request = client.post(
        "/api/v1/requests",
        json={"supplier": "supplier", "part_number": "P-2"},
        headers=members["customer"].headers,
    ).get_json()
    return {
        "members": members,
        "declaration_id": payload["id"],
        "open_request_id": open_request["id"],
        "make_payload": make_payload,
        "sign": sign,
    }


def headers_for(world: dict[str, Any], caller: str) -> dict[str, str]:
    return {} if caller == "anonymous" else world["members"][caller].headers


def new_key_b64() -> str:
    return signing.encode_b64(signing.public_key_raw(signing.generate_private_key()))


EXPECTED: dict[str, dict[str, int]] = {
    "create organisation": dict(
        owner=403, customer=403, unrelated=403, authority=403, operator=201, anonymous=401
    ),
    "read own organisation": dict(
        owner=200, customer=200, unrelated=200, authority=200, operator=200, anonymous=401
    ),
    "list organisations to onboard": dict(
        owner=404, customer=404, unrelated=404, authority=404, operator=200, anonymous=401
    ),
    "register key": dict(owner=201, customer=201, unrelated=201, authority=201, operator=201, anonymous=401),
    "revoke the owner's key": dict(
        owner=204, customer=404, unrelated=404, authority=404, operator=404, anonymous=401
    ),
    "create request": dict(
        owner=201, customer=201, unrelated=201, authority=403, operator=403, anonymous=401
    ),
    "list incoming requests": dict(
        owner=200, customer=200, unrelated=200, authority=403, operator=403, anonymous=401
    ),
    "decline the owner's request": dict(
        owner=200, customer=404, unrelated=404, authority=403, operator=403, anonymous=401
    ),
    "submit declaration": dict(
        owner=201, customer=201, unrelated=201, authority=403, operator=403, anonymous=401
    ),
    "read the owner's declaration": dict(
        owner=200, customer=200, unrelated=404, authority=200, operator=404, anonymous=401
    ),
}


def call(client: Any, world: dict[str, Any], action: str, caller: str) -> Any:
    headers = headers_for(world, caller)
    if action == "create organisation":
        return client.post(
            "/api/v1/organizations",
            json={"slug": "newco", "name": "New Co", "country": "FR", "kind": "company"},
            headers=headers,
        )
    if action == "read own organisation":
        return client.get("/api/v1/organizations/me", headers=headers)
    if action == "list organisations to onboard":
        return client.get("/api/v1/organizations/onboarding", headers=headers)
    if action == "register key":
        return client.post("/api/v1/keys", json={"public_key": new_key_b64()}, headers=headers)
    if action == "revoke the owner's key":
        return client.delete(f"/api/v1/keys/{world['members']['owner'].keyid}", headers=headers)
    if action == "create request":
        target = "bystander" if caller == "owner" else "supplier"
        return client.post(
            "/api/v1/requests", json={"supplier": target, "part_number": "NEW"}, headers=headers
        )
    if action == "list incoming requests":
        return client.get("/api/v1/requests?box=incoming", headers=headers)
    if action == "decline the owner's request":
        return client.post(
            f"/api/v1/requests/{world['open_request_id']}/decline",
            json={"reason": "export control"},
            headers=headers,
        )
    if action == "submit declaration":
        member = world["members"].get(caller) or world["members"]["owner"]
        payload = world["make_payload"](member.slug, "SELF-1")
        return client.post("/api/v1/declarations", data=world["sign"](member, payload), headers=headers)
    if action == "read the owner's declaration":
        return client.get(f"/api/v1/declarations/{world['declaration_id']}", headers=headers)
    raise AssertionError(action)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("action", list(EXPECTED))
def test_each_endpoint_answers_each_kind_of_caller_as_designed(client, world, action, caller):
    response = call(client, world, action, caller)
    assert response.status_code == EXPECTED[action][caller], response.get_data(as_text=True)
    if response.status_code >= 400:
        assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_a_request_the_caller_may_not_see_is_indistinguishable_from_a_missing_one(client, world):
    unrelated = world["members"]["unrelated"].headers
    hidden = client.get(f"/api/v1/declarations/{world['declaration_id']}", headers=unrelated)
    missing = client.get("/api/v1/declarations/00000000-0000-4000-8000-000000000000", headers=unrelated)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()


def test_registering_the_same_key_twice_answers_200_with_the_same_keyid(client, world):
    owner = world["members"]["owner"]
    key = new_key_b64()
    first = client.post("/api/v1/keys", json={"public_key": key}, headers=owner.headers)
    again = client.post("/api/v1/keys", json={"public_key": key}, headers=owner.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    raw = base64.b64decode(key)
    assert first.get_json()["keyid"] == signing.keyid_for(raw)


def test_the_openapi_document_and_the_docs_page_need_no_token(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert spec.get_json()["openapi"].startswith("3.")
    assert "/api/v1/declarations" in spec.get_json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()
    assert b"//cdn" not in docs.data and b"unpkg" not in docs.data


def test_a_revoked_token_is_401(client, world, session_factory):
    from sqlalchemy import update

    from tiertrace.db import utcnow
    from tiertrace.organizations.models import ApiToken

    with session_factory() as session:
        session.execute(update(ApiToken).values(revoked_at=utcnow()))
        session.commit()
    assert (
        client.get("/api/v1/organizations/me", headers=world["members"]["owner"].headers).status_code == 401
    )


@pytest.mark.parametrize(
    "point",
    ["01" + "00" * 31, "00" * 32, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"],
    ids=["identity", "order-4", "order-8-sign-bit-set"],
)
def test_a_key_of_small_order_is_refused_and_not_stored(client, world, session_factory, point):
    owner = world["members"]["owner"]
    raw = bytes.fromhex(point)
    answer = client.post("/api/v1/keys", json={"public_key": signing.encode_b64(raw)}, headers=owner.headers)
    assert answer.status_code == 422
    assert answer.get_json()["error"]["details"] == {"public_key": "small order"}
    with session_factory() as session:
        assert session.get(SigningKey, signing.keyid_for(raw)) is None
