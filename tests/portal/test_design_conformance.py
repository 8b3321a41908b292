"""Promises of DESIGN.md ("API v1", "Signed declarations") that an outside client relies on and that
no other test pinned: the status of a call without a token whatever its body, the error shape of a
body that is not JSON, and a payload id spelt in another form of the same UUID."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code and error["message"]
    return error


# Every endpoint of the API table, each with a body or query its schema refuses: without a token the
# answer is 401 ("a missing or invalid token 401"), never the body's 422 or 400.
UNAUTHENTICATED_CALLS = [
    ("post", "/api/v1/organizations", {"json": {}}),
    ("post", "/api/v1/keys", {"json": {"public_key": 1}}),
    ("post", "/api/v1/requests", {"json": {"supplier": "x"}}),
    ("get", "/api/v1/requests", {"query_string": {"box": "sideways"}}),
    ("post", "/api/v1/requests/00000000-0000-4000-8000-000000000000/decline", {"json": {"reason": ""}}),
    ("post", "/api/v1/requests", {"data": "{not json", "content_type": "application/json"}),
    ("get", "/api/v1/chains/00000000-0000-4000-8000-000000000000", {"query_string": {"max_nodes": 0}}),
    ("get", "/api/v1/audit/programs/ZEEHAVIK", {"query_string": {"format": "pdf"}}),
]


@pytest.mark.parametrize(("method", "path", "options"), UNAUTHENTICATED_CALLS)
@pytest.mark.parametrize("authorization", [None, "Bearer tt_not-a-token"])
def test_a_call_without_a_valid_token_is_401_whatever_its_body(client, method, path, options, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(path, headers=headers, **options)
    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_openapi_document_and_the_docs_still_need_no_token(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/organizations"),
        ("post", "/api/v1/keys"),
        ("post", "/api/v1/requests"),
        ("post", "/api/v1/requests/{request_id}/decline"),
    ],
)
def test_a_body_that_is_not_json_is_400_in_the_error_shape(client, make_org, method, path):
    operator, oem = make_org("operator", kind="operator"), make_org("oem")
    make_org("lumen")
    request_id = client.post(
        "/api/v1/requests", json={"supplier": "lumen", "part_number": "P-1"}, headers=oem.headers
    ).get_json()["id"]
    caller = operator if path == "/api/v1/organizations" else oem
    response = getattr(client, method)(
        path.format(request_id=request_id),
        data='{"reason": ',
        content_type="application/json",
        headers=caller.headers,
    )
    error = assert_error(response, 400, "malformed")
    assert "json" in error["message"].lower()


@pytest.mark.parametrize(
    "spelling",
    [lambda u: u.hex, lambda u: "{" + str(u) + "}", lambda u: "urn:uuid:" + str(u)],
    ids=["no-hyphens", "braces", "urn"],
)
def test_a_payload_id_in_another_spelling_of_a_uuid_is_recognised_as_the_same_id(
    client, make_org, make_payload, sign, spelling
):
    """The id is stored in its canonical form: the same envelope again must still answer 200 with the
    first body, and the same id with other bytes 409, whatever spelling of the UUID the payload used."""
    lumen = make_org("lumen")
    headers = {**lumen.headers, "Content-Type": "application/json"}
    the_id = uuid.uuid4()
    envelope = sign(lumen, make_payload("lumen", "P-1", id=spelling(the_id)))

    first = client.post("/api/v1/declarations", data=envelope, headers=headers)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["id"] == str(the_id)
    again = client.post("/api/v1/declarations", data=envelope, headers=headers)
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == first.get_json()

    for other_spelling in (str(the_id), spelling(the_id)):
        other_bytes = sign(lumen, make_payload("lumen", "P-2", id=other_spelling))
        clash = client.post("/api/v1/declarations", data=other_bytes, headers=headers)
        assert_error(clash, 409, "conflict")


def test_a_declaration_filed_under_its_canonical_id_is_the_same_under_any_other_spelling(
    client, make_org, make_payload, sign
):
    lumen = make_org("lumen")
    headers = {**lumen.headers, "Content-Type": "application/json"}
    the_id = uuid.uuid4()
    first = sign(lumen, make_payload("lumen", "P-1", id=str(the_id)))
    filed = client.post("/api/v1/declarations", data=first, headers=headers)
    assert filed.status_code == 201

    for spelling in (the_id.hex, str(the_id).upper(), "{" + str(the_id) + "}"):
        for path in (f"/api/v1/declarations/{spelling}", f"/api/v1/chains/{spelling}"):
            response = client.get(path, headers=lumen.headers)
            assert response.status_code == 200, (path, response.get_json())
    clash = sign(lumen, make_payload("lumen", "P-2", id=the_id.hex))
    assert_error(client.post("/api/v1/declarations", data=clash, headers=headers), 409, "conflict")
    newer = sign(lumen, make_payload("lumen", "P-1", supersedes=the_id.hex))
    assert client.post("/api/v1/declarations", data=newer, headers=headers).status_code == 201
