"""The bus message envelope: what the relay publishes and what every consumer accepts.

A message is UTF-8 JSON ``{"message_id", "type", "version", "payload"}``; the payload carries ids only
(never whole objects, never pickles). Its routing key is ``f"{type}.v{version}"``. The producer checks
each payload with `validate_payload` when it writes the event to the outbox, and the relay puts the row on
the wire with `encode_message`; consumers validate with `load_message` before they act, and a body that
fails there is a poison message and goes to the dead-letter queue at once.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

__all__ = [
    "PAYLOAD_SCHEMAS",
    "BusMessageSchema",
    "ValidationError",
    "dump_message",
    "encode_message",
    "load_message",
    "routing_key",
    "validate_payload",
]

_UUID = validate.Regexp(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    error="must be a lower-case UUID",
)


class _Payload(Schema):
    class Meta:
        unknown = RAISE


class DeclarationAcceptedV1(_Payload):
    """A declaration passed every check and was stored (the new version, when it supersedes one)."""

    declaration_id = fields.String(required=True, validate=_UUID)
    supersedes_id = fields.String(required=True, allow_none=True, validate=_UUID)


class RequestEventV1(_Payload):
    """A disclosure request was created, declined or became overdue."""

    request_id = fields.String(required=True, validate=_UUID)


#: (type, version) → payload schema. A type or version not listed here is refused on both sides.
PAYLOAD_SCHEMAS: dict[tuple[str, int], type[Schema]] = {
    ("declaration.accepted", 1): DeclarationAcceptedV1,
    ("request.created", 1): RequestEventV1,
    ("request.declined", 1): RequestEventV1,
    ("request.overdue", 1): RequestEventV1,
}


class BusMessageSchema(Schema):
    """The versioned envelope; `payload` is checked against the schema of its (type, version)."""

    class Meta:
        unknown = RAISE

    message_id = fields.String(required=True, validate=_UUID)
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+(\.[a-z_]+)+$"))
    # strict: a version of "1" or 1.0 is a producer bug, not something to coerce silently.
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    # The payload's keys are checked by the schema of its (type, version), which refuses unknown ones.
    payload = fields.Dict(required=True)

    def _check_payload(self, data: dict[str, Any]) -> dict[str, Any]:
        data["payload"] = validate_payload(data["type"], data["version"], data["payload"])
        return data

    def load_checked(self, data: Any) -> dict[str, Any]:
        """Deserialize and validate an envelope, payload included."""
        return self._check_payload(self.load(data))

    def dump_checked(self, data: dict[str, Any]) -> dict[str, Any]:
        """Validate an envelope about to be published; the result is what goes on the wire."""
        # load() validates; the envelope has only JSON-native values, so what it returns is the dump.
        return self.load_checked(data)


# Building a marshmallow schema costs far more than using one; instances hold no per-call state.
_ENVELOPE = BusMessageSchema()
_PAYLOAD_INSTANCES: dict[tuple[str, int], Schema] = {key: schema() for key, schema in PAYLOAD_SCHEMAS.items()}


def routing_key(type: str, version: int) -> str:
    """The topic routing key of a message: ``"declaration.accepted.v1"``."""
    return f"{type}.v{version}"


def validate_payload(type: str, version: int, payload: Any) -> dict[str, Any]:
    """The payload of a (type, version) message, validated. Raises ValidationError, under "type" when
    there is no schema for that type and version, else under "payload"."""
    schema = _PAYLOAD_INSTANCES.get((type, version))
    if schema is None:
        raise ValidationError(f"no schema for {type!r} version {version}", field_name="type")
    try:
        return schema.load(payload)
    except ValidationError as exc:
        raise ValidationError({"payload": exc.messages}) from exc


def encode_message(message_id: str, type: str, version: int, payload: dict[str, Any]) -> bytes:
    """The wire bytes of a message, unchecked: for envelopes whose payload was validated when it was
    written (the outbox), so that the relay does not validate every event a second time."""
    envelope = {"message_id": message_id, "type": type, "version": version, "payload": payload}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode("utf-8")


def dump_message(message_id: str, type: str, version: int, payload: dict[str, Any]) -> bytes:
    """The wire bytes of a message. Raises ValidationError when it does not match the schema."""
    envelope = _ENVELOPE.dump_checked(
        {"message_id": message_id, "type": type, "version": version, "payload": payload}
    )
    return encode_message(**envelope)


def load_message(body: bytes) -> dict[str, Any]:
    """Parse and validate wire bytes. Raises ValidationError for anything that is not a valid message."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("a message is a JSON object")
    return _ENVELOPE.load_checked(data)
