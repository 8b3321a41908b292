"""Bodies of API v1 requests and responses (see DESIGN.md, "API v1")."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

#: The longest free text an API body takes: a request's message, a decline's reason.
MAX_TEXT = 10_000


class _Body(Schema):
    class Meta:
        unknown = RAISE


class ErrorDetailSchema(Schema):
    code = fields.String(metadata={"description": "stable machine-readable code, e.g. payload_invalid"})
    message = fields.String(metadata={"description": "what is wrong and what to do"})
    details = fields.Dict(metadata={"description": "per-field problems or the ids involved"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorDetailSchema)


class OrganizationCreateSchema(_Body):
    slug = fields.String(required=True, metadata={"example": "lumen-compound"})
    name = fields.String(required=True, metadata={"example": "Lumen Compound Semiconductors GmbH"})
    country = fields.String(required=True, metadata={"example": "DE"})
    # Most organisations registered are suppliers. An operator is made on the portal's host
    # (`tiertrace org create --kind operator`), never over HTTP: one operator token cannot mint others.
    kind = fields.String(
        load_default="company",
        validate=validate.OneOf(
            ("company", "authority"),
            error="must be company or authority (an operator is registered with `tiertrace org create`)",
        ),
        metadata={"description": "company (the default) or authority"},
    )


class OrganizationCreatedSchema(Schema):
    slug = fields.String()
    token = fields.String(metadata={"description": "the first API token, shown only this once"})


class OrganizationSchema(Schema):
    slug = fields.String()
    name = fields.String()
    country = fields.String()
    kind = fields.String()


class KeyCreateSchema(_Body):
    public_key = fields.String(
        required=True, metadata={"description": "base64 of the raw 32-byte Ed25519 key"}
    )


class KeySchema(Schema):
    keyid = fields.String(metadata={"example": "ed25519:3f0c…"})


class RequestCreateSchema(_Body):
    supplier = fields.String(required=True, metadata={"description": "the supplier's organisation slug"})
    part_number = fields.String(required=True, validate=validate.Length(min=1, max=100))
    program = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    due_date = fields.Date(load_default=None, allow_none=True)
    message = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=MAX_TEXT))


class _PageQuery(Schema):
    """The paging of a list: pass the `next` of one page back as `cursor` (or as `next`) for the next."""

    cursor = fields.String(metadata={"description": "the `next` of the previous page"})
    next = fields.String(metadata={"description": "another name for `cursor`"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=100))

    @post_load
    def _one_cursor(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "next" in data:
            cursor = data.pop("next")
            if data.setdefault("cursor", cursor) != cursor:
                raise ValidationError("cursor and next name different pages; pass one of them", "cursor")
        return data


class RequestListQuerySchema(_PageQuery):
    box = fields.String(required=True, validate=validate.OneOf(("incoming", "outgoing")))
    status = fields.String(validate=validate.OneOf(("open", "answered", "declined", "overdue")))


class RequestSchema(Schema):
    id = fields.String()
    requester = fields.String(metadata={"description": "slug"})
    supplier = fields.String(metadata={"description": "slug"})
    part_number = fields.String()
    program = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "open, answered, declined or overdue"})
    due_date = fields.Date()
    parent_id = fields.String(allow_none=True)
    declaration_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    message = fields.String(allow_none=True)
    decline_reason = fields.String(allow_none=True)


class RequestPageSchema(Schema):
    items = fields.List(fields.Nested(RequestSchema))
    next = fields.String(allow_none=True)


class DeclineSchema(_Body):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT))


class AnswerSchema(_Body):
    declaration_id = fields.String(
        required=True, metadata={"description": "your current declaration of the part"}
    )


class DeclarationAcceptedSchema(Schema):
    id = fields.String()
    issuer = fields.String()
    part_number = fields.String()
    supersedes = fields.String(allow_none=True)
    accepted_at = fields.DateTime()


class DeclarationSchema(DeclarationAcceptedSchema):
    envelope = fields.Dict(
        allow_none=True,
        metadata={
            "description": "the DSSE envelope in standard padded base64 (the same signed bytes, whichever "
            "base64 spelling was filed); null for a customer when it names a "
            "supplier disclosed to the authority only"
        },
    )
    payload = fields.Dict(metadata={"description": "the decoded payload"})
    superseded_by = fields.String(allow_none=True)
    is_current = fields.Boolean()
    keyid = fields.String()


class EnvelopeSchema(Schema):
    """A DSSE envelope (documentation only: the portal keeps the bytes as received)."""

    payloadType = fields.String(
        required=True, metadata={"example": "application/vnd.tiertrace.declaration.v1+json"}
    )
    payload = fields.String(required=True, metadata={"description": "base64 of the UTF-8 JSON payload"})
    signatures = fields.List(fields.Dict(), required=True)


class NotificationQuerySchema(_PageQuery):
    pass


class NotificationSchema(Schema):
    id = fields.String()
    kind = fields.String(metadata={"description": "request.created, reminder or escalation"})
    request_id = fields.String(allow_none=True)
    data = fields.Dict()
    created_at = fields.DateTime()


class NotificationPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    next = fields.String(allow_none=True)


class WebhookSchema(_Body):
    url = fields.String(
        required=True,
        metadata={
            "example": "https://erp.example.org/tiertrace-hook",
            "description": "http(s) URL, at most 500 characters, whose host is and resolves to public "
            "addresses only (unless the deployment allows private ones); see docs/webhooks.md",
        },
    )


class WebhookCreatedSchema(Schema):
    url = fields.String()
    secret = fields.String(metadata={"description": "HMAC-SHA256 key for X-Tiertrace-Signature, shown once"})


class SupplierToOnboardSchema(Schema):
    """A supplier that current declarations name without a slug; counts only, never who named it."""

    name = fields.String(metadata={"description": "the spelling most of the naming declarations use"})
    country = fields.String(
        allow_none=True, metadata={"description": "ISO 3166-1 alpha-2, or null: not given"}
    )
    declarations = fields.Integer(metadata={"description": "how many current declarations name it"})
    organizations = fields.Integer(metadata={"description": "how many organisations issued those"})
    first_named_at = fields.DateTime(metadata={"description": "when the first of them was accepted"})
    last_named_at = fields.DateTime(metadata={"description": "when the last of them was accepted"})
    registered_as = fields.String(
        allow_none=True,
        metadata={
            "description": "the slug of a registered company with the same name and country: the "
            "declaring organisations still have to file versions naming it; null: not registered"
        },
    )


class SupplierToOnboardPageSchema(Schema):
    items = fields.List(fields.Nested(SupplierToOnboardSchema))
    next = fields.String(allow_none=True, metadata={"description": "always null: the list is one page"})
