"""The chain view endpoint (DESIGN.md, "The chain view"): its query and its response."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

#: What a client may ask for; the view's default is 50,000 nodes (DESIGN.md).
MAX_NODES_DEFAULT = 50_000
MAX_NODES_CEILING = 200_000


class ChainQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    max_nodes = fields.Integer(
        load_default=MAX_NODES_DEFAULT,
        validate=validate.Range(min=1, max=MAX_NODES_CEILING),
        metadata={"description": "list at most this many nodes, then say truncated: true"},
    )
    depth = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0),
        metadata={"description": "cut the tree at this tier (the root is tier 0)"},
    )


#: What a null figure means, for the docs (docs/chain-view.md, "Figures out of range").
NULL_WHEN_OUT_OF_RANGE = (
    "; null when out of range (beyond the largest float: see the audit for where it starts)"
)


class MaterialRollupSchema(Schema):
    mass_g = fields.Float(
        allow_none=True,
        metadata={"description": "grams per ONE unit of the node's part" + NULL_WHEN_OUT_OF_RANGE},
    )
    recycled_g = fields.Float(allow_none=True)
    extraction = fields.Dict(
        keys=fields.String(),
        values=fields.Float(allow_none=True),
        metadata={
            "description": 'grams by ISO 3166-1 alpha-2 country, plus "unknown"; adds up to mass_g'
            + NULL_WHEN_OUT_OF_RANGE
        },
    )
    processing = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))


class SupplierSchema(Schema):
    slug = fields.String(allow_none=True, metadata={"description": "null for a supplier not on the portal"})
    name = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class ChainNodeSchema(Schema):
    id = fields.String(metadata={"description": "opaque, local to this response"})
    parent = fields.String(allow_none=True)
    tier = fields.Integer()
    kind = fields.String(metadata={"description": "declaration or gap"})
    declaration_id = fields.String(allow_none=True)
    gap = fields.String(
        allow_none=True,
        metadata={"description": "open, overdue, declined, unknown_supplier, not_requested or cycle"},
    )
    supplier = fields.Nested(SupplierSchema, allow_none=True)
    undisclosed = fields.Boolean(metadata={"description": "the viewer may not learn who the supplier is"})
    part_number = fields.String(allow_none=True)
    quantity = fields.Float(
        metadata={"description": "units of this node's part per ONE unit of the parent's part"}
    )
    quantity_in_root = fields.Float(
        allow_none=True,
        metadata={
            "description": "units of this node's part per ONE unit of the root's part"
            + NULL_WHEN_OUT_OF_RANGE
        },
    )
    unit = fields.String(
        allow_none=True,
        metadata={
            "description": "what one unit of this node's part is, e.g. piece, kg, cm2: its declaration's "
            "part.unit (piece when the payload has none); null for a gap and for an undisclosed node"
        },
    )
    rollup = fields.Dict(keys=fields.String(), values=fields.Nested(MaterialRollupSchema))


class CoverageSchema(Schema):
    components_total = fields.Integer()
    components_declared = fields.Integer()
    max_tier = fields.Integer()
    traced = fields.Dict(
        metadata={
            "description": "per material, per stage: share of the mass traced to a named country"
            + NULL_WHEN_OUT_OF_RANGE
        }
    )


class ChainViewSchema(Schema):
    root = fields.String()
    rollup = fields.Dict(keys=fields.String(), values=fields.Nested(MaterialRollupSchema))
    coverage = fields.Nested(CoverageSchema)
    nodes = fields.List(fields.Nested(ChainNodeSchema), metadata={"description": "breadth first"})
    truncated = fields.Boolean()
    superseded_by = fields.String(metadata={"description": "only when the root has a newer version"})
