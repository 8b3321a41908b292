"""What an attacker sends the API: hostile JSON bodies get a clear 400, and every answer carries the
security headers (docs/security.md)."""

from __future__ import annotations

import pytest

HOSTILE_BODIES = {
    # json.loads raises RecursionError, not JSONDecodeError, on deep nesting.
    "nested": "[" * 100_000 + "]" * 100_000,
    # Python refuses to convert integers of more than 4,300 digits (ValueError).
    "huge integer": '{"supplier": "lumen", "part_number": ' + "9" * 5000 + "}",
    # Valid JSON syntax, but no UTF-8 text (nor PostgreSQL) can hold an unpaired surrogate or NUL.
    "lone surrogate": '{"supplier": "lumen", "part_number": "P-\\ud800"}',
    "NUL": '{"supplier": "lumen", "part_number": "P-\\u0000"}',
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_hostile_json_body_is_a_clear_400_and_changes_nothing(client, make_org, body):
    oem, lumen = make_org("oem"), make_org("lumen")
    headers = {**oem.headers, "Content-Type": "application/json"}
    answer = client.post("/api/v1/requests", data=body, headers=headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "malformed"
    incoming = client.get("/api/v1/requests?box=incoming", headers=lumen.headers).get_json()
    assert incoming["items"] == []


def test_a_lone_surrogate_in_a_decline_reason_is_a_clear_400(client, make_org):
    oem, lumen = make_org("oem"), make_org("lumen")
    asked = client.post(
        "/api/v1/requests", json={"supplier": "lumen", "part_number": "P-1"}, headers=oem.headers
    ).get_json()
    answer = client.post(
        f"/api/v1/requests/{asked['id']}/decline",
        data='{"reason": "no \\udfff"}',
        headers={**lumen.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    request = client.get("/api/v1/requests?box=incoming", headers=lumen.headers).get_json()["items"][0]
    assert request["status"] == "open"


@pytest.mark.parametrize(
    "path", ["/api/v1/organizations/me", "/api/v1/openapi.json", "/api/v1/docs", "/healthz", "/no-such-page"]
)
def test_every_answer_carries_the_security_headers(client, make_org, path):
    answer = client.get(path, headers=make_org("oem").headers)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_api_answers_are_not_stored_by_caches(client, make_org):
    answer = client.get("/api/v1/organizations/me", headers=make_org("oem").headers)
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    ["/api/v1/audit/programs/A%00B", "/api/v1/requests?box=incoming&status=op%00en", "/api/v1/chains/%00"],
)
def test_nul_in_a_path_or_query_is_a_clear_400(client, make_org, path):
    answer = client.get(path, headers=make_org("mod", kind="authority").headers)
    assert answer.status_code == 400
    assert "NUL" in answer.get_json()["error"]["message"]
