"""Bodies of the audit endpoints (DESIGN.md, "API v1": the audit report; the observatory)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

#: The file formats of the audit report.
REPORT_FORMATS = ("json", "csv", "xlsx")


class AuditQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    format = fields.String(
        load_default="json",
        validate=validate.OneOf(REPORT_FORMATS),
        metadata={
            "description": "json (default, this object), csv (one document, a [section] per table) or xlsx "
            "(one sheet per table); the files come as attachments"
        },
    )


class AuditReportSchema(Schema):
    """The completeness and risk report of a programme (see docs/audit.md for every figure)."""

    program = fields.String()
    generated_at = fields.String(metadata={"description": "RFC 3339 UTC"})
    roots = fields.List(
        fields.String(), metadata={"description": "ids of the programme's top-level declarations"}
    )
    summary = fields.List(
        fields.String(), metadata={"description": "the five largest risks as plain sentences"}
    )
    completeness = fields.Dict(
        metadata={
            "description": "per tier, per Tier-1 branch, per material and per root: how much is declared"
        }
    )
    risk = fields.Dict(
        metadata={
            "description": "per material and stage: country shares, HHI, CRMA flag; facilities; countries"
        }
    )
    gaps = fields.List(
        fields.Dict(), metadata={"description": "every gap with its path, supplier and request"}
    )
    vintage = fields.Dict(
        metadata={"description": "the declaration versions and reference data the figures use"}
    )


class ProgramSummarySchema(Schema):
    program = fields.String()
    roots = fields.List(fields.String())
    components_total = fields.Integer()
    components_declared = fields.Integer()
    share_declared = fields.Float()
    max_tier = fields.Integer()
    gaps = fields.Dict(keys=fields.String(), values=fields.Integer())


class ProgramPageSchema(Schema):
    items = fields.List(fields.Nested(ProgramSummarySchema))
    next = fields.String(allow_none=True)


class ObservatorySchema(Schema):
    """Cross-programme aggregate per material and country; no supplier identity at all."""

    generated_at = fields.String()
    programmes = fields.Integer(metadata={"description": "how many programmes the figures sum"})
    materials = fields.Dict(
        metadata={"description": "per material: mass, reference flags, per-stage country shares"}
    )
    countries = fields.Dict(metadata={"description": "per country and stage: dependence across materials"})
