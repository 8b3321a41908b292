"""DSSE over Ed25519: a known-answer vector checked independently, properties, and malformed input."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1
from cryptography.hazmat.primitives.asymmetric.ec import generate_private_key as generate_ec_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from tiertrace import signing
from tiertrace.errors import MalformedInputError, RuleViolationError

VECTOR = json.loads((Path(__file__).parent / "vectors" / "dsse_ed25519.json").read_text(encoding="utf-8"))
VECTOR_PAYLOAD = VECTOR["payload_utf8"].encode("utf-8")
VECTOR_KEY = signing.private_key_from_seed(bytes.fromhex(VECTOR["seed_hex"]))
VECTOR_PUBLIC = base64.b64decode(VECTOR["public_key_b64"])
OTHER_KEY = signing.private_key_from_seed(bytes(32))

payloads = st.binary(min_size=1, max_size=300)


def _envelope_dict(envelope: bytes) -> dict:
    return json.loads(envelope)


def _reencode(envelope: bytes, *, payload: bytes | None = None, sig: bytes | None = None) -> bytes:
    document = _envelope_dict(envelope)
    if payload is not None:
        document["payload"] = base64.b64encode(payload).decode()
    if sig is not None:
        document["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    return json.dumps(document).encode()


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


# --- the known-answer vector, checked without tiertrace.signing where it matters -------------------------


def test_vector_public_key_and_keyid_follow_from_the_seed_by_cryptography_alone():
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["seed_hex"]))
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b64encode(raw).decode() == VECTOR["public_key_b64"]
    assert VECTOR["keyid"] == "ed25519:" + hashlib.sha256(raw).hexdigest()
    assert signing.public_key_raw(VECTOR_KEY) == raw
    assert signing.keyid_for(raw) == VECTOR["keyid"]


def test_vector_pae_is_the_dsse_definition_written_out():
    # "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body; LEN counts bytes: the payload has 112 bytes
    # in 109 characters (É, é and à take two bytes each in UTF-8).
    literal = (
        b"DSSEv1 45 application/vnd.tiertrace.declaration.v1+json 112 "
        b'{"id": "9f1c2b7e-3d4a-4f5b-8c6d-7e8f9a0b1c2d", "issuer": "moselle-foil", '
        b'"statement": "\xc3\x89tain affin\xc3\xa9 \xc3\xa0 Esch"}\n'
    )
    assert bytes.fromhex(VECTOR["payload_hex"]) == VECTOR_PAYLOAD
    assert signing.pae(signing.PAYLOAD_TYPE, VECTOR_PAYLOAD) == literal
    assert bytes.fromhex(VECTOR["pae_hex"]) == literal
    assert VECTOR["pae_utf8"].encode("utf-8") == literal


def test_pae_matches_the_example_in_the_dsse_specification():
    assert signing.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_of_the_type_and_body_not_characters():
    assert signing.pae("tÿpe", "é".encode()) == b"DSSEv1 5 t\xc3\xbfpe 2 \xc3\xa9"
    assert signing.pae("", b"") == b"DSSEv1 0  0 "


def test_vector_signature_verifies_over_the_literal_pae_with_cryptography_directly():
    public = Ed25519PublicKey.from_public_bytes(VECTOR_PUBLIC)
    public.verify(base64.b64decode(VECTOR["signature_b64"]), VECTOR["pae_utf8"].encode("utf-8"))


def test_signing_the_vector_payload_again_gives_the_same_envelope_bytes():
    envelope = signing.sign_payload(VECTOR_PAYLOAD, VECTOR_KEY)
    assert envelope == VECTOR["envelope_utf8"].encode("utf-8")
    document = json.loads(envelope)
    assert list(document) == ["payloadType", "payload", "signatures"]
    assert document["signatures"] == [{"keyid": VECTOR["keyid"], "sig": VECTOR["signature_b64"]}]


def test_the_vector_envelope_verifies_and_yields_the_exact_payload_bytes():
    envelope = VECTOR["envelope_utf8"].encode("utf-8")
    assert signing.verify_envelope(envelope, VECTOR_PUBLIC) == VECTOR_PAYLOAD
    parsed = signing.parse_envelope(envelope)
    assert parsed == signing.ParsedEnvelope(
        payload_type=signing.PAYLOAD_TYPE,
        payload=VECTOR_PAYLOAD,
        keyid=VECTOR["keyid"],
        signature=base64.b64decode(VECTOR["signature_b64"]),
    )


# --- properties ----------------------------------------------------------------------------------------


@given(payload=payloads, data=st.data())
def test_flipping_any_payload_bit_breaks_the_signature(payload, data):
    envelope = signing.sign_payload(payload, VECTOR_KEY)
    bit = data.draw(st.integers(0, len(payload) * 8 - 1), label="bit")
    tampered = _reencode(envelope, payload=_flip(payload, bit))
    with pytest.raises(RuleViolationError) as caught:
        signing.verify_envelope(tampered, VECTOR_PUBLIC)
    assert caught.value.code == "signature"


@given(payload=payloads, bit=st.integers(0, 64 * 8 - 1))
def test_flipping_any_signature_bit_breaks_the_signature(payload, bit):
    parsed = signing.parse_envelope(signing.sign_payload(payload, VECTOR_KEY))
    assert len(parsed.signature) == 64
    tampered = replace(parsed, signature=_flip(parsed.signature, bit))
    with pytest.raises(RuleViolationError) as caught:
        signing.verify_signature(tampered, VECTOR_PUBLIC)
    assert caught.value.code == "signature"
    signing.verify_signature(parsed, VECTOR_PUBLIC)  # the untouched one still verifies


@given(payload=payloads)
def test_a_url_safe_unpadded_reencoding_of_a_valid_envelope_still_verifies(payload):
    document = _envelope_dict(signing.sign_payload(payload, VECTOR_KEY))
    for holder, field in ((document, "payload"), (document["signatures"][0], "sig")):
        holder[field] = base64.urlsafe_b64encode(base64.b64decode(holder[field])).decode().rstrip("=")
    assert signing.verify_envelope(json.dumps(document).encode(), VECTOR_PUBLIC) == payload


@settings(max_examples=50)
@given(payload=payloads)
def test_securesystemslib_dsse_verifier_accepts_what_sign_payload_produces(payload):
    envelope = Envelope.from_dict(json.loads(signing.sign_payload(payload, VECTOR_KEY)))
    key = SSlibKey(VECTOR["keyid"], "ed25519", "ed25519", {"public": VECTOR_PUBLIC.hex()})
    accepted = envelope.verify([key], 1)
    assert list(accepted) == [VECTOR["keyid"]]
    assert envelope.payload == payload
    assert envelope.payload_type == signing.PAYLOAD_TYPE


@given(data=st.binary(max_size=100))
def test_decode_b64_accepts_all_four_dsse_spellings(data):
    standard = base64.standard_b64encode(data).decode()
    urlsafe = base64.urlsafe_b64encode(data).decode()
    for text in (standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")):
        assert signing.decode_b64(text) == data
    assert signing.encode_b64(data) == standard


# --- signing and verifying -----------------------------------------------------------------------------


def test_sign_payload_writes_standard_padded_base64():
    payload = b"\xfb\xff\xbf"  # encodes to "+/+/" in the standard alphabet, "-_-_" in the URL-safe one
    document = json.loads(signing.sign_payload(payload + b"?", VECTOR_KEY))
    assert document["payload"] == "+/+/Pw=="
    assert document["signatures"][0]["sig"].endswith("==")
    assert signing.encode_b64(b"\xfb\xff") == "+/8="


def test_sign_payload_signs_bytes_only():
    with pytest.raises(TypeError):
        signing.sign_payload("{}", VECTOR_KEY)  # type: ignore[arg-type]  (the mistake under test)


def test_a_signature_by_another_key_with_the_right_keyid_does_not_verify():
    forged = signing.parse_envelope(signing.sign_payload(VECTOR_PAYLOAD, OTHER_KEY))
    forged = replace(forged, keyid=VECTOR["keyid"])
    with pytest.raises(RuleViolationError) as caught:
        signing.verify_signature(forged, VECTOR_PUBLIC)
    assert caught.value.code == "signature"


def test_an_envelope_naming_another_keyid_than_the_given_key_is_refused():
    envelope = signing.sign_payload(VECTOR_PAYLOAD, VECTOR_KEY)
    with pytest.raises(RuleViolationError) as caught:
        signing.verify_envelope(envelope, signing.public_key_raw(OTHER_KEY))
    assert caught.value.code == "signature"
    assert VECTOR["keyid"] in caught.value.message


def test_changing_the_payload_type_after_signing_breaks_the_signature():
    parsed = signing.parse_envelope(signing.sign_payload(VECTOR_PAYLOAD, VECTOR_KEY))
    with pytest.raises(RuleViolationError) as caught:
        signing.verify_signature(replace(parsed, payload_type="application/json"), VECTOR_PUBLIC)
    assert caught.value.code == "signature"


def test_verify_envelope_refuses_another_payload_type_with_its_own_code():
    envelope = signing.sign_payload(VECTOR_PAYLOAD, VECTOR_KEY, payload_type="application/vnd.in-toto+json")
    parsed = signing.parse_envelope(envelope)  # parsing alone does not judge the type
    assert parsed.payload_type == "application/vnd.in-toto+json"
    signing.verify_signature(parsed, VECTOR_PUBLIC)
    with pytest.raises(RuleViolationError) as caught:
        signing.verify_envelope(envelope, VECTOR_PUBLIC)
    assert caught.value.code == "payload_type"


def test_a_public_key_read_back_from_a_database_as_memoryview_verifies():
    envelope = signing.sign_payload(VECTOR_PAYLOAD, VECTOR_KEY)
    from_database = memoryview(VECTOR_PUBLIC)
    payload = signing.verify_envelope(envelope, from_database)  # type: ignore[arg-type]  (a driver's type)
    assert payload == VECTOR_PAYLOAD


def test_verifying_with_a_public_key_that_is_not_32_bytes_is_malformed_input():
    envelope = signing.sign_payload(VECTOR_PAYLOAD, VECTOR_KEY)
    with pytest.raises(MalformedInputError):
        signing.verify_envelope(envelope, VECTOR_PUBLIC[:31])


# --- malformed envelopes -------------------------------------------------------------------------------

_GOOD = json.loads(VECTOR["envelope_utf8"])
_SIG = _GOOD["signatures"][0]


def _with(**fields) -> bytes:
    document = dict(_GOOD)
    for name, value in fields.items():
        if value is _MISSING:
            document.pop(name)
        else:
            document[name] = value
    return json.dumps(document).encode()


_MISSING = object()

MALFORMED = {
    "not UTF-8": b'{"payload": "\xff"}',
    "UTF-16 JSON": VECTOR["envelope_utf8"].encode("utf-16"),
    "not JSON": b"payloadType: x",
    "empty": b"",
    "a JSON array": b"[]",
    "a JSON string": b'"envelope"',
    "a repeated key": VECTOR["envelope_utf8"].encode()[:-1] + b', "payload": "e30="}',
    "payloadType missing": _with(payloadType=_MISSING),
    "payloadType a number": _with(payloadType=1),
    "payload missing": _with(payload=_MISSING),
    "payload null": _with(payload=None),
    "payload not base64": _with(payload="eyJ!fQ=="),
    "payload with two alphabets": _with(payload="+_8="),
    "payload wrongly padded": _with(payload="e30=="),
    "signatures missing": _with(signatures=_MISSING),
    "signatures an object": _with(signatures=_SIG),
    "a signature not an object": _with(signatures=["sig"]),
    "sig missing": _with(signatures=[{"keyid": _SIG["keyid"]}]),
    "sig a number": _with(signatures=[{"keyid": _SIG["keyid"], "sig": 7}]),
    "sig not base64": _with(signatures=[{"keyid": _SIG["keyid"], "sig": "not base64!"}]),
}


@pytest.mark.parametrize("envelope", MALFORMED.values(), ids=MALFORMED.keys())
def test_envelopes_of_the_wrong_form_are_malformed_input(envelope):
    with pytest.raises(MalformedInputError):
        signing.parse_envelope(envelope)
    with pytest.raises(MalformedInputError):
        signing.verify_envelope(envelope, VECTOR_PUBLIC)


SIGNATURE_RULES = {
    "zero signatures": _with(signatures=[]),
    "two signatures": _with(signatures=[_SIG, _SIG]),
    "two signatures by different keys": _with(
        signatures=[_SIG, json.loads(signing.sign_payload(VECTOR_PAYLOAD, OTHER_KEY))["signatures"][0]]
    ),
    "keyid missing": _with(signatures=[{"sig": _SIG["sig"]}]),
    "keyid empty": _with(signatures=[{"keyid": "", "sig": _SIG["sig"]}]),
    "keyid a number": _with(signatures=[{"keyid": 1, "sig": _SIG["sig"]}]),
    "keyid a lone surrogate": _with(signatures=[{"keyid": "\ud800", "sig": _SIG["sig"]}]),
}


@pytest.mark.parametrize("envelope", SIGNATURE_RULES.values(), ids=SIGNATURE_RULES.keys())
def test_envelopes_without_exactly_one_keyed_signature_break_the_signature_rule(envelope):
    with pytest.raises(RuleViolationError) as caught:
        signing.parse_envelope(envelope)
    assert caught.value.code == "signature"


def test_parse_envelope_wants_the_bytes_as_received_not_a_decoded_string():
    with pytest.raises(TypeError):
        signing.parse_envelope(VECTOR["envelope_utf8"])  # type: ignore[arg-type]  (the mistake under test)


def test_unknown_envelope_fields_are_ignored_as_dsse_says():
    assert signing.parse_envelope(_with(comment="x")).payload == VECTOR_PAYLOAD


# --- base64 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, b"e30=", 3, ["e30="]])
def test_decode_b64_refuses_anything_but_a_string(value):
    with pytest.raises(MalformedInputError):
        signing.decode_b64(value)


@pytest.mark.parametrize(
    "text",
    [
        "e30!",  # outside both alphabets
        "e3 0=",  # whitespace
        "e30=\n",
        "éé==",
        "+_8=",  # standard and URL-safe mixed in one value
        "QQ=",  # padding to the wrong length
        "Q===",  # one character cannot encode a byte
        "Q",
        "QQ==QQ==",  # data after padding
        "=",
        "QR==",  # non-zero bits after the last byte: "QQ==" is the only spelling of b"A"
        "QR",
    ],
)
def test_decode_b64_refuses_what_is_not_base64(text):
    with pytest.raises(MalformedInputError):
        signing.decode_b64(text)


def test_decode_b64_of_the_empty_string_is_empty():
    assert signing.decode_b64("") == b""


# --- keys ----------------------------------------------------------------------------------------------


def test_keyid_for_refuses_a_key_that_is_not_32_raw_bytes():
    with pytest.raises(MalformedInputError):
        signing.keyid_for(bytes(31))
    with pytest.raises(MalformedInputError):
        signing.keyid_for(VECTOR["public_key_b64"])  # type: ignore[arg-type]  (the mistake under test)


def test_private_key_from_seed_refuses_a_seed_that_is_not_32_bytes():
    with pytest.raises(ValueError):
        signing.private_key_from_seed(bytes(31))


def test_generated_keys_differ():
    assert signing.public_key_raw(signing.generate_private_key()) != signing.public_key_raw(
        signing.generate_private_key()
    )


def test_a_written_key_reads_back_and_only_its_owner_can_read_it(tmp_path):
    path = tmp_path / "key.pem"
    signing.write_private_key(path, VECTOR_KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert signing.public_key_raw(signing.read_private_key(path)) == VECTOR_PUBLIC


def test_writing_a_key_never_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "key.pem"
    path.write_bytes(b"the old key")
    with pytest.raises(FileExistsError):
        signing.write_private_key(path, VECTOR_KEY)
    assert path.read_bytes() == b"the old key"


def test_reading_a_key_that_is_not_ed25519_says_so(tmp_path):
    path = tmp_path / "ec.pem"
    ec_key = generate_ec_key(SECP256R1())
    path.write_bytes(ec_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    with pytest.raises(MalformedInputError, match="not an Ed25519 key"):
        signing.read_private_key(path)


def test_reading_a_file_that_is_no_key_or_an_encrypted_key_says_so(tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")
    with pytest.raises(MalformedInputError, match="not a PEM private key"):
        signing.read_private_key(garbage)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        VECTOR_KEY.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"pw"))
    )
    with pytest.raises(MalformedInputError, match="encrypted"):
        signing.read_private_key(encrypted)


def test_under_the_identity_point_one_forged_signature_verifies_every_message():
    # Why register_key refuses small-order keys: R = identity, S = 0 passes Ed25519 verification here.
    identity = bytes([1]) + bytes(31)
    forged = identity + bytes(32)
    key = Ed25519PublicKey.from_public_bytes(identity)
    for message in (b"any declaration", signing.pae(signing.PAYLOAD_TYPE, b'{"issuer": "someone"}')):
        key.verify(forged, message)  # raises InvalidSignature if it does not verify
    assert signing.is_small_order(identity)


def test_generated_keys_are_not_of_small_order_and_the_sign_bit_does_not_hide_one():
    for _ in range(20):
        assert not signing.is_small_order(signing.public_key_raw(signing.generate_private_key()))
    order_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
    assert signing.is_small_order(order_8) and signing.is_small_order(
        order_8[:31] + bytes([order_8[31] | 0x80])
    )


def test_verifying_under_a_key_of_small_order_fails_even_for_the_forged_signature():
    # `tiertrace verify --public-key` and submit both verify here: a forged envelope must not pass.
    identity = bytes([1]) + bytes(31)
    forged = {
        "payloadType": signing.PAYLOAD_TYPE,
        "payload": signing.encode_b64(b'{"issuer": "someone"}'),
        "signatures": [
            {"keyid": signing.keyid_for(identity), "sig": signing.encode_b64(identity + bytes(32))}
        ],
    }
    with pytest.raises(RuleViolationError) as refused:
        signing.verify_envelope(json.dumps(forged).encode(), identity)
    assert refused.value.details["problem"] == "small_order"


def test_decode_b64_says_so_when_the_padding_is_too_long():
    """Extra '=' used to be called "characters outside the alphabets", which sent people looking for a
    stray character."""
    with pytest.raises(MalformedInputError, match="more than two '='"):
        signing.decode_b64("QQ====")
