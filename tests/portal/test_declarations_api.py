"""POST/GET /api/v1/declarations: every rejection DESIGN.md lists, its status, its error body, and
that nothing was stored."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from tiertrace import signing
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.organizations.models import SigningKey
from tiertrace.outbox.models import OutboxEvent

GA_LINE = {
    "material": "Ga",
    "mass_g": 0.84,
    "extraction": [{"country": "CN", "share": 0.90}],
    "processing": [{"country": "CN", "share": 0.98, "facility": "Jinlu refinery"}],
    "recycled_share": 0.0,
}


def stored_counts(session_factory: Any) -> tuple[int, int, int]:
    with session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Declaration)),
            session.scalar(select(func.count()).select_from(DeclarationComponent)),
            session.scalar(select(func.count()).select_from(OutboxEvent)),
        )


def post(client: Any, member: Any, body: bytes) -> Any:
    return client.post(
        "/api/v1/declarations", data=body, headers={**member.headers, "Content-Type": "application/json"}
    )


def assert_rejected(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_a_valid_declaration_is_accepted_and_reads_back_byte_for_byte(
    client, make_org, make_payload, sign, session_factory
):
    supplier = make_org("lumen")
    payload = make_payload("lumen", "MMIC-7", materials=[GA_LINE])
    envelope = sign(supplier, payload)
    response = post(client, supplier, envelope)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["id"] == payload["id"]
    shown = client.get(f"/api/v1/declarations/{payload['id']}", headers=supplier.headers)
    assert shown.status_code == 200
    assert shown.get_json()["payload"] == payload
    assert shown.get_json()["envelope"] == json.loads(envelope)
    with session_factory() as session:
        assert session.get(Declaration, payload["id"]).envelope == envelope
    assert stored_counts(session_factory) == (1, 0, 1)


def test_an_envelope_sent_as_curl_d_sends_it_is_accepted_byte_for_byte(
    client, make_org, make_payload, sign, session_factory
):
    # `curl -d @envelope.json` labels the body application/x-www-form-urlencoded: the endpoint reads the
    # raw body whatever its label, so nothing may parse it as a form first.
    supplier = make_org("lumen")
    envelope = sign(supplier, make_payload("lumen", materials=[GA_LINE]))
    response = client.post(
        "/api/v1/declarations",
        data=envelope,
        headers={**supplier.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 201, response.get_json()
    with session_factory() as session:
        assert session.get(Declaration, response.get_json()["id"]).envelope == envelope


def test_the_same_envelope_again_answers_200_with_the_first_body(
    client, make_org, make_payload, sign, session_factory
):
    supplier = make_org("lumen")
    envelope = sign(supplier, make_payload("lumen", materials=[GA_LINE]))
    first = post(client, supplier, envelope)
    again = post(client, supplier, envelope)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert stored_counts(session_factory) == (1, 0, 1)


def test_the_same_id_with_other_bytes_is_a_conflict(client, make_org, make_payload, sign, session_factory):
    supplier = make_org("lumen")
    payload = make_payload("lumen", materials=[GA_LINE])
    assert post(client, supplier, sign(supplier, payload)).status_code == 201
    payload["statement"] = "changed"
    assert_rejected(post(client, supplier, sign(supplier, payload)), 409)
    assert stored_counts(session_factory) == (1, 0, 1)


def test_an_envelope_over_one_mebibyte_is_413_before_parsing(client, make_org, session_factory):
    supplier = make_org("lumen")
    assert_rejected(post(client, supplier, b"{" + b" " * (1024 * 1024)), 413, "too_large")
    assert stored_counts(session_factory) == (0, 0, 0)


def _envelope_dict(member: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return json.loads(signing.sign_payload(json.dumps(payload).encode(), member.private_key))


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"payloadType": "application/vnd.tiertrace.declaration.v1+json"}',
        b'{"payloadType": "application/vnd.tiertrace.declaration.v1+json", "payload": "!!!", '
        b'"signatures": [{"keyid": "k", "sig": "AAAA"}]}',
    ],
    ids=["not-json", "json-array", "no-payload", "payload-not-base64"],
)
def test_malformed_envelopes_are_400(client, make_org, session_factory, body):
    supplier = make_org("lumen")
    assert_rejected(post(client, supplier, body), 400, "malformed")
    assert stored_counts(session_factory) == (0, 0, 0)


def test_another_payload_type_is_422(client, make_org, make_payload, session_factory):
    supplier = make_org("lumen")
    raw = json.dumps(make_payload("lumen")).encode()
    envelope = signing.sign_payload(raw, supplier.private_key, payload_type="application/vnd.in-toto+json")
    assert_rejected(post(client, supplier, envelope), 422, "payload_type")
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_broken_signature_is_422(client, make_org, make_payload, session_factory):
    supplier = make_org("lumen")
    envelope = _envelope_dict(supplier, make_payload("lumen"))
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[0] ^= 1
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    assert_rejected(post(client, supplier, json.dumps(envelope).encode()), 422, "signature")
    assert stored_counts(session_factory) == (0, 0, 0)


def test_an_unknown_key_is_422(client, make_org, make_payload, session_factory):
    supplier = make_org("lumen")
    stranger_key = signing.generate_private_key()
    envelope = signing.sign_payload(json.dumps(make_payload("lumen")).encode(), stranger_key)
    assert_rejected(post(client, supplier, envelope), 422, "signature")
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_revoked_key_is_422_and_its_owner_learns_when_it_was_revoked(
    client, make_org, make_payload, sign, session_factory
):
    supplier = make_org("lumen")
    assert client.delete(f"/api/v1/keys/{supplier.keyid}", headers=supplier.headers).status_code == 204
    with session_factory() as session:
        revoked_at = session.scalar(select(SigningKey.revoked_at).where(SigningKey.keyid == supplier.keyid))
    error = assert_rejected(post(client, supplier, sign(supplier, make_payload("lumen"))), 422, "signature")
    assert (
        error["message"]
        == f"key {supplier.keyid} was revoked on {revoked_at:%Y-%m-%d}; sign with a current key"
    )
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_revoked_key_of_another_organisation_is_not_said_to_be_revoked(
    client, make_org, make_payload, sign, session_factory
):
    supplier, other = make_org("lumen"), make_org("tatra")
    assert client.delete(f"/api/v1/keys/{other.keyid}", headers=other.headers).status_code == 204
    error = assert_rejected(post(client, supplier, sign(other, make_payload("lumen"))), 422, "signature")
    assert (
        error["message"]
        == "the envelope is signed with a key that is unknown or revoked; register the key first"
    )
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_key_of_another_organisation_than_the_issuer_is_422(
    client, make_org, make_payload, sign, session_factory
):
    supplier, other = make_org("lumen"), make_org("tatra")
    # Signed by tatra's key but claiming lumen as issuer.
    assert_rejected(post(client, supplier, sign(other, make_payload("lumen"))), 422, "signature")
    assert stored_counts(session_factory) == (0, 0, 0)


def test_an_issuer_other_than_the_caller_is_403(client, make_org, make_payload, sign, session_factory):
    supplier, other = make_org("lumen"), make_org("tatra")
    assert_rejected(post(client, supplier, sign(other, make_payload("tatra"))), 403, "forbidden")
    assert stored_counts(session_factory) == (0, 0, 0)


def _bad(payload: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    target: Any = payload
    *path, last = where.split(".")
    for step in path:
        target = target[int(step)] if step.isdigit() else target[step]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return payload


_DELETE = object()


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        ("materials.0.mass_g", -1.0, "materials.0.mass_g"),
        ("materials.0.mass_g", float("nan"), "materials.0.mass_g"),
        ("materials.0.mass_g", float("inf"), "materials.0.mass_g"),
        ("materials.0.material", "Unobtainium", "materials.0.material"),
        ("materials.0.extraction.0.country", "XX", "materials.0.extraction.0.country"),
        (
            "materials.0.processing",
            [{"country": "CN", "share": 0.7}, {"country": "JP", "share": 0.4}],
            "materials.0.processing",
        ),
        ("materials.0.extraction.0.share", 1.5, "materials.0.extraction.0.share"),
        ("materials.0.recycled_share", -0.1, "materials.0.recycled_share"),
        (
            "components",
            [{"part_number": "X", "supplier": "nobody-here", "quantity": 1}],
            "components.0.supplier",
        ),
        ("components", [{"part_number": "X", "supplier": None, "quantity": 0}], "components.0.quantity"),
        (
            "components",
            [{"part_number": "X", "supplier": None, "quantity": 1, "disclose_supplier_to": ["everyone"]}],
            "components.0.disclose_supplier_to",
        ),
        ("id", "not-a-uuid", "id"),
        ("issued_at", "yesterday", "issued_at"),
        ("part", _DELETE, "part"),
        ("in_response_to", str(uuid.uuid4()), "in_response_to"),
        ("supersedes", str(uuid.uuid4()), "supersedes"),
    ],
)
def test_payload_rule_violations_are_422_with_the_field_named(
    client, make_org, make_payload, sign, session_factory, where, value, field
):
    supplier = make_org("lumen")
    payload = _bad(make_payload("lumen", materials=[json.loads(json.dumps(GA_LINE))]), where, value)
    # json.dumps writes NaN and Infinity literals and Python's json reads them back: the schema refuses.
    error = assert_rejected(post(client, supplier, sign(supplier, payload)), 422, None)
    assert any(key == field or key.startswith(field + ".") for key in error["details"]), error
    assert stored_counts(session_factory) == (0, 0, 0)


def test_in_response_to_a_request_for_another_part_is_422(
    client, make_org, make_payload, sign, session_factory
):
    oem, supplier = make_org("oem"), make_org("lumen")
    request = client.post(
        "/api/v1/requests", json={"supplier": "lumen", "part_number": "MMIC-7"}, headers=oem.headers
    )
    assert request.status_code == 201
    payload = make_payload("lumen", "OTHER-PART", in_response_to=request.get_json()["id"])
    assert_rejected(post(client, supplier, sign(supplier, payload)), 422)
    assert stored_counts(session_factory)[0] == 0


def test_an_answer_marks_its_request_answered(client, make_org, make_payload, sign):
    oem, supplier = make_org("oem"), make_org("lumen")
    request_id = client.post(
        "/api/v1/requests", json={"supplier": "lumen", "part_number": "MMIC-7"}, headers=oem.headers
    ).get_json()["id"]
    payload = make_payload("lumen", "MMIC-7", in_response_to=request_id, materials=[GA_LINE])
    assert post(client, supplier, sign(supplier, payload)).status_code == 201
    outgoing = client.get("/api/v1/requests?box=outgoing", headers=oem.headers).get_json()["items"]
    assert [(r["status"], r["declaration_id"]) for r in outgoing] == [("answered", payload["id"])]
    # The requester is now a customer and may read the answer.
    assert client.get(f"/api/v1/declarations/{payload['id']}", headers=oem.headers).status_code == 200


def test_a_second_current_version_without_supersedes_is_409(
    client, make_org, make_payload, sign, session_factory
):
    supplier = make_org("lumen")
    assert post(client, supplier, sign(supplier, make_payload("lumen", "MMIC-7"))).status_code == 201
    assert_rejected(post(client, supplier, sign(supplier, make_payload("lumen", "MMIC-7"))), 409, "conflict")
    assert stored_counts(session_factory)[0] == 1


def test_a_superseding_version_takes_over_and_the_old_one_stays_readable(
    client, make_org, make_payload, sign
):
    oem, supplier = make_org("oem"), make_org("lumen")
    request_id = client.post(
        "/api/v1/requests", json={"supplier": "lumen", "part_number": "MMIC-7"}, headers=oem.headers
    ).get_json()["id"]
    v1 = make_payload("lumen", "MMIC-7", in_response_to=request_id, materials=[GA_LINE])
    assert post(client, supplier, sign(supplier, v1)).status_code == 201
    v2 = make_payload("lumen", "MMIC-7", supersedes=v1["id"], materials=[{**GA_LINE, "mass_g": 0.5}])
    response = post(client, supplier, sign(supplier, v2))
    assert response.status_code == 201
    assert response.get_json()["supersedes"] == v1["id"]
    old = client.get(f"/api/v1/declarations/{v1['id']}", headers=oem.headers).get_json()
    assert old["superseded_by"] == v2["id"] and old["is_current"] is False
    outgoing = client.get("/api/v1/requests?box=outgoing", headers=oem.headers).get_json()["items"]
    assert outgoing[0]["declaration_id"] == v2["id"]
    # Superseding an old version is no longer possible: a conflict with the current one, which it names.
    v3 = make_payload("lumen", "MMIC-7", supersedes=v1["id"])
    error = assert_rejected(post(client, supplier, sign(supplier, v3)), 409, "conflict")
    assert error["details"] == {"supersedes": v1["id"], "current": v2["id"]}


def test_the_losers_of_a_race_to_supersede_get_the_409_of_a_version_conflict(
    client, make_org, make_payload, sign, session_factory
):
    """Two v2s naming v1, as two colleagues filing at once: the first wins. Before, the second got the
    422 of a malformed payload, while two racing first versions got 409."""
    supplier = make_org("lumen")
    v1 = make_payload("lumen", "MMIC-7")
    assert post(client, supplier, sign(supplier, v1)).status_code == 201
    first, second = (make_payload("lumen", "MMIC-7", supersedes=v1["id"]) for _ in range(2))
    assert post(client, supplier, sign(supplier, first)).status_code == 201

    error = assert_rejected(post(client, supplier, sign(supplier, second)), 409, "conflict")
    assert error["details"]["current"] == first["id"]
    assert stored_counts(session_factory)[0] == 2


def test_supersedes_may_not_name_another_issuers_declaration(client, make_org, make_payload, sign):
    lumen, tatra = make_org("lumen"), make_org("tatra")
    theirs = make_payload("tatra", "MMIC-7")
    assert post(client, tatra, sign(tatra, theirs)).status_code == 201
    mine = make_payload("lumen", "MMIC-7", supersedes=theirs["id"])
    assert_rejected(post(client, lumen, sign(lumen, mine)), 422)


def test_url_safe_unpadded_base64_is_accepted_and_read_back_in_standard_base64(
    client, make_org, make_payload, session_factory, url_safe_unpadded
):
    supplier = make_org("lumen")
    standard = _envelope_dict(supplier, make_payload("lumen", materials=[GA_LINE]))
    filed = url_safe_unpadded(json.dumps(standard).encode())
    answer = post(client, supplier, filed)
    assert answer.status_code == 201
    shown = client.get(f"/api/v1/declarations/{answer.get_json()['id']}", headers=supplier.headers)
    # DESIGN: "output uses standard padded base64". The bytes as received stay stored unchanged.
    assert shown.get_json()["envelope"] == standard
    with session_factory() as session:
        assert session.get(Declaration, answer.get_json()["id"]).envelope == filed


def test_the_envelope_read_back_is_other_bytes_and_the_409_says_it_is_the_same_declaration(
    client, make_org, make_payload, session_factory, url_safe_unpadded
):
    """DESIGN compares envelope bytes; before, the 409 said "other contents" of an envelope whose
    payload and signature were the ones stored."""
    supplier = make_org("lumen")
    standard = _envelope_dict(supplier, make_payload("lumen", materials=[GA_LINE]))
    assert post(client, supplier, url_safe_unpadded(json.dumps(standard).encode())).status_code == 201

    error = assert_rejected(post(client, supplier, json.dumps(standard).encode()), 409, "conflict")
    assert error["details"]["same_payload_and_signature"] is True
    assert error["message"].startswith("a declaration with this id was accepted from other envelope bytes")
    assert stored_counts(session_factory)[0] == 1


def test_a_component_may_name_the_issuer_itself(client, make_org, make_payload, sign):
    supplier = make_org("lumen")
    payload = make_payload(
        "lumen", "TRM", components=[{"part_number": "MMIC-7", "supplier": "lumen", "quantity": 4}]
    )
    assert post(client, supplier, sign(supplier, payload)).status_code == 201


def test_a_customer_does_not_learn_a_supplier_disclosed_to_the_authority_only(
    client, make_org, make_payload, sign
):
    oem, prime = make_org("oem"), make_org("prime")
    make_org("sealed-maker", name="Sealed Maker Inc")
    ministry = make_org("ministry", kind="authority")
    request_id = client.post(
        "/api/v1/requests", json={"supplier": "prime", "part_number": "VLS"}, headers=oem.headers
    ).get_json()["id"]
    payload = make_payload(
        "prime",
        "VLS",
        in_response_to=request_id,
        components=[
            {
                "part_number": "SEQ",
                "supplier": "sealed-maker",
                "quantity": 1,
                "request_disclosure": True,
                "disclose_supplier_to": ["authority"],
            },
            {
                "part_number": "ACT",
                "supplier": None,
                "supplier_name": "Open Actuators",
                "quantity": 2,
                "disclose_supplier_to": ["requester"],
            },
        ],
    )
    assert post(client, prime, sign(prime, payload)).status_code == 201
    seen_by_oem = client.get(f"/api/v1/declarations/{payload['id']}", headers=oem.headers)
    assert seen_by_oem.status_code == 200
    text = seen_by_oem.get_data(as_text=True)
    assert "sealed-maker" not in text and "Sealed Maker" not in text
    body = seen_by_oem.get_json()
    assert body["envelope"] is None
    assert body["payload"]["components"][0]["undisclosed"] is True
    assert body["payload"]["components"][1]["supplier_name"] == "Open Actuators"
    for reader in (prime, ministry):
        full = client.get(f"/api/v1/declarations/{payload['id']}", headers=reader.headers).get_json()
        assert full["payload"] == payload and full["envelope"] is not None


UNSTORABLE_TEXT = {"NUL": "a\u0000b", "lone surrogate": "a\ud800b"}


@pytest.mark.parametrize("text", UNSTORABLE_TEXT.values(), ids=UNSTORABLE_TEXT.keys())
@pytest.mark.parametrize(
    "where", ["statement", "part.name", "components.0.supplier", "components.0.supplier_name", "id"]
)
def test_text_no_database_can_hold_is_422_with_the_field_named(
    client, make_org, make_payload, session_factory, where, text
):
    # NUL and unpaired surrogates pass JSON but not PostgreSQL (text, JSON) or UTF-8: they were stored on
    # SQLite and a 500 on PostgreSQL, also when only looked up (a supplier slug, the id).
    supplier = make_org("lumen")
    payload = make_payload("lumen", "P-1", materials=[GA_LINE])
    payload["components"] = [{"part_number": "C-1", "supplier": None, "quantity": 1}]
    *parents, last = where.split(".")
    target = payload
    for step in parents:
        target = target[int(step)] if step.isdigit() else target[step]
    target[last] = text
    envelope = signing.sign_payload(json.dumps(payload).encode(), supplier.private_key)
    error = assert_rejected(post(client, supplier, envelope), 422, "payload_invalid")
    # The schema's own message wins where it refuses the field too (the id is no UUID).
    assert "NUL" in error["details"][where] or where == "id"
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_payload_nested_too_deeply_is_422(client, make_org, make_payload, session_factory):
    supplier = make_org("lumen")
    payload = make_payload("lumen", "P-1")
    payload["statement"] = "deep"
    raw = json.dumps(payload).encode().replace(b'"deep"', b"[" * 100_000 + b"]" * 100_000)
    error = assert_rejected(post(client, supplier, signing.sign_payload(raw, supplier.private_key)), 422)
    assert error["code"] == "payload_invalid"
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_keyid_no_database_can_hold_is_an_unknown_key(client, make_org, make_payload, session_factory):
    supplier = make_org("lumen")
    document = json.loads(
        signing.sign_payload(json.dumps(make_payload("lumen")).encode(), supplier.private_key)
    )
    document["signatures"][0]["keyid"] = "ed25519:\u0000"
    error = assert_rejected(post(client, supplier, json.dumps(document).encode()), 422, "signature")
    assert error["details"]["problem"] == "unknown_key"
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_component_supplied_by_the_authority_or_the_operator_is_422(
    client, make_org, make_payload, sign, session_factory
):
    """Before: accepted, and the bus sent the authority a request it may not even read (nor answer)."""
    supplier = make_org("lumen")
    for kind in ("authority", "operator"):
        other = make_org(f"the-{kind}", kind=kind)
        component = {"part_number": "X", "supplier": other.organization.slug, "quantity": 1}
        payload = make_payload("lumen", components=[{**component, "request_disclosure": True}])
        error = assert_rejected(post(client, supplier, sign(supplier, payload)), 422, "payload_invalid")
        assert error["details"]["components.0.supplier"] == (
            f"'the-{kind}' is the portal's {kind}, not a company; a component's supplier must be a "
            "registered company"
        )
    assert stored_counts(session_factory) == (0, 0, 0)


def test_a_null_disclose_supplier_to_reads_as_absent(client, make_org, make_payload, sign, session_factory):
    """DESIGN: the default applies "when absent or empty". Before: 422 "Field may not be null"."""
    supplier = make_org("lumen")
    make_org("tatra")
    component = {"part_number": "X", "supplier": "tatra", "quantity": 1, "disclose_supplier_to": None}
    payload = make_payload("lumen", components=[component])
    assert post(client, supplier, sign(supplier, payload)).status_code == 201
    with session_factory() as session:
        assert session.scalar(select(DeclarationComponent.disclose_to)) == "authority"
