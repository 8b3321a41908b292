"""DSSE envelopes over Ed25519: signing, parsing and verifying tiertrace declarations.

The signature covers the exact payload bytes (through PAE), so nothing here canonicalises JSON: keep the
envelope bytes exactly as received, verify over them, and only then parse the payload.

securesystemslib's `dsse.Envelope` computes the PAE and drives signing and verification, with a `CryptoSigner`
/ `SSlibKey` carrying tiertrace's keyid. Parsing is written here because its `Envelope.from_dict` cannot do
what DESIGN requires (see `parse_envelope`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from securesystemslib import exceptions as sslib_exceptions
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey

from tiertrace.errors import MalformedInputError, RuleViolationError

PAYLOAD_TYPE = "application/vnd.tiertrace.declaration.v1+json"

# securesystemslib's names for the key type and the signing scheme of an Ed25519 key.
_SSLIB_ED25519 = "ed25519"
_PUBLIC_KEY_LEN = 32
_SEED_LEN = 32

_STANDARD_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True)
class ParsedEnvelope:
    """A DSSE envelope with exactly one signature, its base64 fields decoded; not yet verified."""

    payload_type: str
    payload: bytes
    keyid: str
    signature: bytes


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return PAE(payload_type, payload), the bytes DSSE signs; raises TypeError on non-str/non-bytes."""
    if not isinstance(payload_type, str) or not isinstance(payload, bytes | bytearray):
        raise TypeError("pae() takes a str payload type and bytes payload")
    # LEN counts bytes of the UTF-8 type and of the payload, not characters: securesystemslib does that.
    return Envelope(bytes(payload), payload_type, {}).pae()


#: The encodings of Ed25519's points of small order, sign bit cleared (libsodium's list: 0, 1, the two
#: points of order 8, and p - 1, p, p + 1 written without reduction). Under such a "public key" a signature
#: of a small-order R and S = 0 verifies for many messages (under 1, for every message): it proves nothing,
#: and whoever holds the database could sign as its organisation.
_SMALL_ORDER_POINTS = frozenset(
    bytes.fromhex(point)
    for point in (
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    )
)


def is_small_order(public_key_raw: bytes) -> bool:
    """Whether a raw 32-byte public key encodes a point of small order (a key anyone can sign for)."""
    raw = bytes(public_key_raw)
    return raw[:31] + bytes([raw[31] & 0x7F]) in _SMALL_ORDER_POINTS


def keyid_for(public_key_raw: bytes) -> str:
    """Return "ed25519:<hex SHA-256>" of a raw public key; raises MalformedInputError unless 32 bytes."""
    _check_public_key_length(public_key_raw)
    return "ed25519:" + hashlib.sha256(bytes(public_key_raw)).hexdigest()


def decode_b64(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not; raises MalformedInputError on anything else."""
    # securesystemslib's b64dec rejects unpadded input, which DSSE allows, so this is written out here. Like
    # the Go DSSE reference, one alphabet per string: "+" and "_" mixed in one value is rejected.
    if not isinstance(text, str):
        raise MalformedInputError("expected a base64 string", details={"type": type(text).__name__})
    if _STANDARD_B64.fullmatch(text):
        altchars = None
    elif _URLSAFE_B64.fullmatch(text):
        altchars = b"-_"
    else:
        raise MalformedInputError(
            "not base64: characters outside the standard and URL-safe alphabets, "
            "or more than two '=' at the end"
        )
    body = text.rstrip("=")
    if len(body) % 4 == 1 or (len(body) != len(text) and len(text) % 4 != 0):
        raise MalformedInputError("not base64: wrong length or wrong padding")
    try:
        data = base64.b64decode(body + "=" * (-len(body) % 4), altchars=altchars, validate=True)
    except binascii.Error as exc:  # unreachable after the checks above; kept so no binascii error escapes
        raise MalformedInputError(f"not base64: {exc}") from exc
    # Python ignores set bits after the last whole byte ("QR==" decodes like "QQ=="). Rejecting them leaves
    # only the four spellings DSSE allows (two alphabets, padded or not), not endless variants of one value.
    canonical = base64.b64encode(data).rstrip(b"=").decode("ascii")
    if altchars:
        canonical = canonical.translate(str.maketrans("+/", "-_"))
    if canonical != body:
        raise MalformedInputError("not base64: non-zero bits after the last byte (not a canonical encoding)")
    return data


def encode_b64(data: bytes) -> str:
    """Encode bytes as standard padded base64 (what tiertrace always writes)."""
    return base64.standard_b64encode(data).decode("ascii")


def generate_private_key() -> Ed25519PrivateKey:
    """Generate a new random Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_from_seed(seed: bytes) -> Ed25519PrivateKey:
    """Return the Ed25519 private key of a 32-byte seed (tests, known answers); raises ValueError."""
    if not isinstance(seed, bytes | bytearray) or len(seed) != _SEED_LEN:
        raise ValueError(f"an Ed25519 seed is exactly {_SEED_LEN} bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(seed))


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    """Return the raw 32-byte public key of an Ed25519 private key."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def write_private_key(path: str | os.PathLike[str], private_key: Ed25519PrivateKey) -> None:
    """Write the key as PEM PKCS#8, mode 0600; raises FileExistsError rather than overwrite a file."""
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    # O_EXCL: never replace a key that may already be registered; the mode is set at creation so the secret is
    # never readable by others, not even between open() and a later chmod.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise


def read_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read a PEM Ed25519 private key; raises OSError, or MalformedInputError if it is not one."""
    data = Path(path).read_bytes()
    hint = "expected an unencrypted PEM PKCS#8 Ed25519 private key, as `tiertrace keygen` writes"
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError as exc:  # cryptography raises TypeError for a password-protected key
        raise MalformedInputError(f"{path}: the key is encrypted; {hint}") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MalformedInputError(f"{path}: not a PEM private key; {hint}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise MalformedInputError(f"{path}: a {type(key).__name__}, not an Ed25519 key; {hint}")
    return key


def sign_payload(payload: bytes, private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """Sign the exact payload bytes and return the DSSE envelope as UTF-8 JSON bytes (standard base64)."""
    if not isinstance(payload, bytes | bytearray):
        raise TypeError("sign_payload() signs bytes; pass the payload file's bytes, not parsed JSON")
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("sign_payload() needs an Ed25519 private key")
    keyid = keyid_for(public_key_raw(private_key))
    signer = CryptoSigner(
        private_key, SSlibKey.from_crypto(private_key.public_key(), keyid=keyid, scheme=_SSLIB_ED25519)
    )
    signature = Envelope(bytes(payload), payload_type, {}).sign(signer)
    document = _document(payload_type, bytes(payload), signature.keyid, bytes.fromhex(signature.signature))
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def standard_envelope(envelope_bytes: bytes) -> dict[str, Any]:
    """The envelope as tiertrace writes it: standard padded base64, only the DSSE fields.

    Input may use either base64 alphabet, padded or not (DSSE allows it); output always uses standard
    padded base64 (DESIGN). The decoded payload and signature, hence the signature's validity, are the
    same bytes as in the envelope as received, which stays stored unchanged.
    """
    parsed = parse_envelope(envelope_bytes)
    return _document(parsed.payload_type, parsed.payload, parsed.keyid, parsed.signature)


def _document(payload_type: str, payload: bytes, keyid: str, signature: bytes) -> dict[str, Any]:
    # Built by hand rather than from Envelope.to_dict() for the field order DESIGN shows and so that only the
    # two DSSE signature fields are ever written.
    return {
        "payloadType": payload_type,
        "payload": encode_b64(payload),
        "signatures": [{"keyid": keyid, "sig": encode_b64(signature)}],
    }


def parse_envelope(envelope_bytes: bytes) -> ParsedEnvelope:
    """Parse envelope bytes; raises MalformedInputError, or RuleViolationError("signature") if not 1 sig.

    The payload type is not checked here: the caller does, since a wrong type has its own status.
    Raises TypeError if given anything but bytes (a decoded str is no longer the bytes as received).
    """
    # Not Envelope.from_dict: it raises KeyError/TypeError/binascii.Error on bad input, rejects unpadded
    # base64, mutates the dict it is given, and folds signatures into a dict keyed by keyid (a count is lost).
    if not isinstance(envelope_bytes, bytes | bytearray | memoryview):
        # A str here means someone decoded the body already; the bytes as received are what was submitted.
        raise TypeError("parse_envelope() takes the envelope bytes exactly as received")
    try:
        text = bytes(envelope_bytes).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInputError("the envelope is not UTF-8") from exc
    try:
        document = json.loads(text, object_pairs_hook=reject_duplicate_keys)
    except DuplicateKeyError as exc:
        message = f"the envelope repeats the key {exc.key!r}"
        raise MalformedInputError(message, details={"key": exc.key}) from exc
    except ValueError as exc:  # json.JSONDecodeError
        raise MalformedInputError(f"the envelope is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise MalformedInputError("the envelope is not JSON: nested too deeply") from exc
    if not isinstance(document, dict):
        raise MalformedInputError("the envelope must be a JSON object: payloadType, payload, signatures")

    payload_type = _require_field(document, "payloadType", str, "a string")
    payload = _decode_field(_require_field(document, "payload", str, "a base64 string"), "payload")
    signatures = _require_field(document, "signatures", list, "a list")
    decoded_sigs: list[tuple[Any, bytes]] = []
    for index, entry in enumerate(signatures):
        if not isinstance(entry, dict):
            raise MalformedInputError(
                f"signatures[{index}] must be an object", details={"field": "signatures"}
            )
        sig_text = entry.get("sig")
        if not isinstance(sig_text, str):
            raise MalformedInputError(
                f"signatures[{index}].sig is missing or not a string", details={"field": "signatures"}
            )
        decoded_sigs.append((entry.get("keyid"), _decode_field(sig_text, f"signatures[{index}].sig")))

    if len(decoded_sigs) != 1:
        raise RuleViolationError(
            f"a declaration carries exactly one signature, this envelope has {len(decoded_sigs)}",
            code="signature",
            details={"signatures": len(decoded_sigs)},
        )
    keyid, signature = decoded_sigs[0]
    if not isinstance(keyid, str) or not keyid:
        # DSSE makes keyid optional, tiertrace does not: it is how the portal finds the issuer's key.
        raise RuleViolationError(
            "the signature has no keyid; tiertrace needs it to find the signing key", code="signature"
        )
    if not _encodable(keyid):
        # JSON can spell lone surrogates ("\ud800") that no database driver can encode; stop them here.
        raise RuleViolationError("the signature's keyid is not valid Unicode text", code="signature")
    return ParsedEnvelope(payload_type=payload_type, payload=payload, keyid=keyid, signature=signature)


def verify_signature(parsed: ParsedEnvelope, public_key_raw: bytes) -> None:
    """Check the Ed25519 signature over PAE(type, payload); raises RuleViolationError("signature").

    Also raises RuleViolationError("signature") when the envelope's keyid is not this key's or the key is
    of small order (a signature under it proves nothing), and MalformedInputError when public_key_raw is
    not 32 bytes. A signature that does not verify says so in `details["problem"]` ("does_not_verify").
    """
    expected_keyid = keyid_for(public_key_raw)
    if is_small_order(public_key_raw):
        raise RuleViolationError(
            f"key {expected_keyid} is a point of small order, under which anyone can make a valid "
            "signature; it proves nothing",
            code="signature",
            details={"keyid": parsed.keyid, "problem": "small_order"},
        )
    if parsed.keyid != expected_keyid:
        # The keyid is not signed; insisting on it means "signed by <keyid>" is never a lie.
        raise RuleViolationError(
            f"the envelope names key {parsed.keyid}, but the public key given is {expected_keyid}",
            code="signature",
            details={"keyid": parsed.keyid, "expected_keyid": expected_keyid},
        )
    key = SSlibKey(expected_keyid, _SSLIB_ED25519, _SSLIB_ED25519, {"public": bytes(public_key_raw).hex()})
    envelope = Envelope(
        parsed.payload, parsed.payload_type, {parsed.keyid: Signature(parsed.keyid, parsed.signature.hex())}
    )
    try:
        envelope.verify([key], 1)
    except (sslib_exceptions.VerificationError, sslib_exceptions.UnverifiedSignatureError) as exc:
        raise RuleViolationError(
            f"the signature does not verify with key {expected_keyid}: the payload or its type changed after "
            "signing, or another key signed it",
            code="signature",
            details={"keyid": parsed.keyid, "problem": "does_not_verify"},
        ) from exc


def verify_envelope(envelope_bytes: bytes, public_key_raw: bytes) -> bytes:
    """Parse, check the type, verify; return the payload. Raises as parse/verify, or code "payload_type"."""
    parsed = parse_envelope(envelope_bytes)
    if parsed.payload_type != PAYLOAD_TYPE:
        raise RuleViolationError(
            f"payloadType is {parsed.payload_type!r}, expected {PAYLOAD_TYPE!r}",
            code="payload_type",
            details={"payloadType": parsed.payload_type},
        )
    verify_signature(parsed, public_key_raw)
    return parsed.payload


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (raised by `reject_duplicate_keys`)."""

    def __init__(self, key: str):
        super().__init__(f"the key {key!r} appears twice in one object")
        self.key = key


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json.loads(..., object_pairs_hook=reject_duplicate_keys)`: an object naming a key twice raises
    DuplicateKeyError. Python's json keeps the last of repeated keys, other parsers the first: two readers
    of one signed envelope or payload could disagree on what was signed. Refuse the ambiguity."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise DuplicateKeyError(key)
        document[key] = value
    return document


def _require_field(document: dict[str, Any], name: str, kind: type, described: str) -> Any:
    value = document.get(name)
    if not isinstance(value, kind):
        state = "missing" if name not in document else f"not {described}"
        raise MalformedInputError(f"the envelope's {name} is {state}", details={"field": name})
    return value


def _decode_field(text: str, name: str) -> bytes:
    try:
        return decode_b64(text)
    except MalformedInputError as exc:
        raise MalformedInputError(f"the envelope's {name} is {exc.message}", details={"field": name}) from exc


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_public_key_length(public_key_raw: bytes) -> None:
    # memoryview too: some database drivers hand binary columns back that way.
    if not isinstance(public_key_raw, bytes | bytearray | memoryview):
        raise MalformedInputError(
            "an Ed25519 public key is raw bytes", details={"type": type(public_key_raw).__name__}
        )
    if len(public_key_raw) != _PUBLIC_KEY_LEN:
        raise MalformedInputError(
            f"an Ed25519 public key is exactly {_PUBLIC_KEY_LEN} raw bytes, not {len(public_key_raw)}",
            details={"length": len(public_key_raw)},
        )
