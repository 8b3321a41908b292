"""The OEM's pages: its programmes, and the merged chain as an expandable tree with charts and gaps.

The chain comes from `chain_view`, redacted for the viewer exactly as API v1's; these pages only draw it,
and its exports (`export_chain`) are built from that same redacted view.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, render_template, request
from sqlalchemy.orm import Session

from portal.db import db_session
from portal.files import download
from portal.web import charts
from portal.web.base import bp, current_org, login_required
from tiertrace import reference
from tiertrace.chains.exports import export_chain
from tiertrace.chains.merge import materials_by_mass
from tiertrace.chains.services import chain_view
from tiertrace.db import begin_snapshot
from tiertrace.declarations.history import list_programmes, require_programme
from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import readable_ids
from tiertrace.exports import FORMATS
from tiertrace.organizations.models import Organization

#: A page lists at most this many nodes (the figures stay complete); `?depth=` cuts the tree at a tier.
WEB_MAX_NODES = 2000
#: Tiers drawn by default: the tree is nested markup, and no browser wants thousands of levels.
WEB_MAX_DEPTH = 30


def chain_figures(view: dict[str, Any]) -> dict[str, Any]:
    """What the chain templates draw from one chain view: tree, gap list, charts per stage, and which
    nodes' declarations the viewer may open (a supplier disclosed to the chain is named, but its
    declaration is for its customers and the authority)."""
    material_names = {code: m.name for code, m in reference.materials().items()}
    roots, gaps = charts.build_tree(view)
    shown = {n["declaration_id"] for n in view.get("nodes", []) if n.get("declaration_id")}
    return {
        "view": view,
        # Each node says what one unit of its part is; the root node is always listed.
        "root_unit": view["nodes"][0]["unit"],
        "readable": readable_ids(db_session(), current_org(), shown),
        "tree": roots,
        "gaps": gaps,
        "charts": charts.stacked_charts(
            view["rollup"], material_names=material_names, country_names=reference.countries()
        ),
        "materials": materials_by_mass(view["rollup"]),
        "material_names": material_names,
    }


def _depth() -> int:
    try:
        return max(0, min(int(request.args.get("depth", WEB_MAX_DEPTH)), WEB_MAX_DEPTH))
    except ValueError:
        return WEB_MAX_DEPTH


@bp.get("/programmes")
@login_required("company", "authority")
def programmes() -> Any:
    """The programmes of the organisation's top-level declarations (every programme for the authority)."""
    return render_template("programmes.html", programmes=list_programmes(db_session(), current_org()))


@bp.get("/programmes/<path:name>")
@login_required("company", "authority")
def programme(name: str) -> Any:
    """A programme: the chain of each of its top-level declarations, with charts and the gap list."""
    session, organization = db_session(), current_org()
    begin_snapshot(session)  # the chains of one committed state, whatever the bus merges meanwhile
    found = require_programme(session, organization, name)
    chains = [
        chain_figures(
            chain_view(session, root.id, organization, max_nodes=WEB_MAX_NODES, depth=_depth(), via="web")
        )
        for root in found.roots
    ]
    session.commit()  # the authority's reads are audit-logged
    return render_template(
        "programme.html", programme=found, chains=chains, countries=reference.countries(), formats=FORMATS
    )


def audited_programme(session: Session, viewer: Organization, declaration_id: str) -> str | None:
    """The programme whose audit report the viewer may open from a chain page: the root declaration's
    `program`, for the authority only, and only while some current declaration still carries it (the
    audit of a programme nobody carries any more is a 404)."""
    if viewer.kind != "authority":
        return None
    root = session.get(Declaration, declaration_id)
    program = root.program if root is not None else None
    if not program or not list_programmes(session, viewer, name=program):
        return None
    return program


@bp.get("/chains/<declaration_id>")
@login_required("company", "authority")
def chain(declaration_id: str) -> Any:
    """The chain below any declaration the viewer may read (a supplier's own subtree, say); the ministry
    also gets a way to the audit of the root's programme."""
    session, organization = db_session(), current_org()
    begin_snapshot(session)  # the view of one committed state, whatever the bus merges meanwhile
    view = chain_view(
        session, declaration_id, organization, max_nodes=WEB_MAX_NODES, depth=_depth(), via="web"
    )
    program = audited_programme(session, organization, view["root"])
    session.commit()  # the authority's reads are audit-logged
    return render_template(
        "chain.html",
        chain=chain_figures(view),
        countries=reference.countries(),
        formats=FORMATS,
        audit_program=program,
    )


@bp.get("/chains/<declaration_id>/export.<fmt>")
@login_required("company", "authority")
def chain_export(declaration_id: str, fmt: str) -> Any:
    """The whole chain (up to the view's default node budget) as a JSON, CSV or XLSX download."""
    if fmt not in FORMATS:
        abort(404)
    session = db_session()
    begin_snapshot(session)  # the view of one committed state, whatever the bus merges meanwhile
    view = chain_view(session, declaration_id, current_org(), via=f"web:{fmt}")
    session.commit()  # the authority's reads are audit-logged
    return download(export_chain(view, fmt, datetime.now(UTC).date()))
