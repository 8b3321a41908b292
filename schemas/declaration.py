"""The declaration payload v1: structure, types and ranges.

Reference data (material and country codes) and everything that needs the database (registered
suppliers, versions) are checked by the core (`tiertrace.declarations.rules` and `.services`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

DISCLOSURE_CHOICES = ("authority", "requester", "chain")


class StrictFloat(fields.Float):
    """A finite JSON number; booleans and numeric strings are refused."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("must be a number")
        number = finite_number(value)
        if number is None:
            raise ValidationError("must be a finite number (no NaN or Infinity)")
        return number


def finite_number(value: Any) -> float | None:
    """A JSON number as a finite float; None for anything else: a boolean, NaN, an infinity, or an
    integer literal beyond the float range (more than 308 digits)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PartSchema(_Strict):
    number = fields.String(required=True, validate=validate.Length(min=1, max=100))
    name = fields.String(load_default="", validate=validate.Length(max=300))
    unit = fields.String(load_default="piece", validate=validate.Length(min=1, max=30))


class OriginSchema(_Strict):
    country = fields.String(required=True, validate=validate.Length(equal=2))
    share = StrictFloat(required=True, validate=validate.Range(min=0, max=1))
    facility = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


#: Shares of one stage may exceed 1 by at most this much (floating-point slack).
SHARE_TOLERANCE = 1e-9


class MaterialSchema(_Strict):
    material = fields.String(required=True, validate=validate.Length(min=1, max=30))
    mass_g = StrictFloat(required=True, validate=validate.Range(min=0))
    extraction = fields.List(fields.Nested(OriginSchema), load_default=list)
    processing = fields.List(fields.Nested(OriginSchema), load_default=list)
    recycled_share = StrictFloat(load_default=0.0, validate=validate.Range(min=0, max=1))

    @validates_schema(skip_on_field_errors=False)  # along with the field errors, not after them
    def _shares_sum_to_at_most_one(self, data: dict[str, Any], **_: Any) -> None:
        for stage in ("extraction", "processing"):
            # a share the field refused is not in `data`: its own error says so
            total = sum(origin.get("share", 0.0) for origin in data.get(stage, []))
            if total > 1 + SHARE_TOLERANCE:
                raise ValidationError(f"the {stage} shares add up to {total:.12g}, more than 1", stage)


class ComponentSchema(_Strict):
    part_number = fields.String(required=True, validate=validate.Length(min=1, max=100))
    supplier = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    supplier_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    supplier_country = fields.String(load_default=None, allow_none=True, validate=validate.Length(equal=2))
    quantity = StrictFloat(required=True, validate=validate.Range(min=0, min_inclusive=False))
    request_disclosure = StrictBoolean(load_default=False)
    # null reads as absent: DESIGN's default "when absent or empty" (clients write unset optionals as null).
    disclose_supplier_to = fields.List(fields.String(), load_default=list, allow_none=True)

    @validates("disclose_supplier_to")
    def _one_disclosure_choice(self, value: list[str] | None, **_: Any) -> None:
        if value is None:
            return
        if len(value) > 1 or any(choice not in DISCLOSURE_CHOICES for choice in value):
            raise ValidationError(
                'must be exactly one of ["authority"], ["requester"] or ["chain"] (or absent)'
            )


def _rfc3339_utc(value: str) -> None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise ValidationError("must be an RFC 3339 timestamp, e.g. 2025-03-10T09:00:00Z") from exc
    if "T" not in value.upper() or parsed.tzinfo is None or parsed.utcoffset() != UTC.utcoffset(None):
        raise ValidationError("must be an RFC 3339 timestamp in UTC, e.g. 2025-03-10T09:00:00Z")


class DeclarationPayloadSchema(_Strict):
    """Payload v1 of `application/vnd.tiertrace.declaration.v1+json`."""

    id = fields.UUID(required=True)
    issuer = fields.String(required=True, validate=validate.Length(min=1, max=64))
    issued_at = fields.String(required=True, validate=_rfc3339_utc)
    in_response_to = fields.String(load_default=None, allow_none=True)
    supersedes = fields.String(load_default=None, allow_none=True)
    program = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    part = fields.Nested(PartSchema, required=True)
    materials = fields.List(fields.Nested(MaterialSchema), load_default=list)
    components = fields.List(fields.Nested(ComponentSchema), load_default=list)
    # Free text of any length: the 1 MiB envelope limit bounds it.
    statement = fields.String(load_default="")


def parse_issued_at(value: str) -> datetime:
    """The payload's issued_at as an aware UTC datetime (the schema has validated it)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00")).astimezone(UTC)
