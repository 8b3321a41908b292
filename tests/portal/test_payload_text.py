"""The payload's JSON text: one meaning for every reader, and room for a long attestation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from tiertrace import signing
from tiertrace.declarations.models import Declaration


def post(client: Any, member: Any, body: bytes) -> Any:
    return client.post("/api/v1/declarations", data=body, headers=member.headers)


def declarations(session_factory: Any) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(Declaration))


@pytest.mark.parametrize("key", ["issuer", "part", "statement"])
def test_a_payload_repeating_a_key_is_422_and_stores_nothing(
    client, make_org, make_payload, session_factory, key
):
    """Python's json keeps the last of two equal keys, other parsers the first: the same signed bytes
    named one issuer to the portal and another to an offline verifier. It used to be accepted (201)."""
    make_org("other")
    lumen = make_org("lumen")
    payload = make_payload("lumen")
    text = json.dumps(payload)
    first = json.dumps({key: "other" if key == "issuer" else payload[key]})[1:-1]
    raw = ("{" + first + ", " + text[1:]).encode()
    answer = post(client, lumen, signing.sign_payload(raw, lumen.private_key))
    assert answer.status_code == 422, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "payload_invalid" and key in error["message"]
    assert declarations(session_factory) == 0


def test_a_long_statement_is_accepted_whole(client, make_org, make_payload, sign):
    """The attestation is free text; only the 1 MiB envelope bounds it (it stopped at 10,000 characters,
    so padding the statement towards 1 MiB was refused with 422)."""
    lumen = make_org("lumen")
    statement = "We attest. " * 60_000  # 660,000 characters, an envelope of about 880 kB
    payload = make_payload("lumen", statement=statement)
    answer = post(client, lumen, sign(lumen, payload))
    assert answer.status_code == 201, answer.get_json()
    read = client.get(f"/api/v1/declarations/{payload['id']}", headers=lumen.headers).get_json()
    assert read["payload"]["statement"] == statement
