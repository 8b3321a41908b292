"""The merged, confidential chain view of a declaration, redacted for the caller."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

from portal.api.parsing import Blueprint
from portal.auth import current_organization
from portal.db import db_session
from schemas.api import ErrorSchema
from schemas.chains import ChainQuerySchema, ChainViewSchema
from tiertrace.chains.services import chain_view
from tiertrace.db import begin_snapshot

blp = Blueprint("chains", __name__, url_prefix="/api/v1/chains", description="The merged chain view")


@blp.get("/<string:declaration_id>")
@blp.arguments(ChainQuerySchema, location="query")
@blp.response(200, ChainViewSchema)
@blp.alt_response(404, schema=ErrorSchema, description="No such declaration, or the caller may not see it")
def show(query: dict[str, Any], declaration_id: str) -> Any:
    """Tree, rollup and coverage of a declaration's chain (its issuer, its customers, the authority).

    Supplier identities are redacted for the caller as DESIGN.md says; reads by the authority are
    audit-logged.
    """
    session = db_session()
    begin_snapshot(session)  # nodes, rollup and coverage of one committed state, whatever merges meanwhile
    view = chain_view(
        session,
        declaration_id,
        current_organization(),
        max_nodes=query["max_nodes"],
        depth=query["depth"],
        via="api",
    )
    session.commit()
    # A Response passes flask-smorest untouched: the schema documents the body, but dumping tens of
    # thousands of nodes through marshmallow would cost far more than building them. orjson writes the
    # ~8 MB of a 10,000-node view about ten times faster than the json module behind Flask's jsonify.
    return Response(orjson.dumps(view, option=orjson.OPT_APPEND_NEWLINE), mimetype="application/json")
