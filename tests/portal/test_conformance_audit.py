"""What a black-box audit of the running portal against DESIGN.md found broken: the chain view of a
declaration whose numbers are large but finite (DESIGN: "quantity is a finite number > 0"), a JSON body
sent without the JSON label, and errors that pointed at the wrong part of the request."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from sqlalchemy import func, select

from tiertrace.chains import services
from tiertrace.chains.services import rebuild_all, refresh_rollups
from tiertrace.db import begin_snapshot
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import create_organization


def post_declaration(client: Any, member: Any, envelope: bytes) -> Any:
    answer = client.post("/api/v1/declarations", data=envelope, headers=member.headers)
    assert answer.status_code == 201, answer.get_json()
    return answer


def co_line(mass_g: float) -> dict[str, Any]:
    return {
        "material": "Co",
        "mass_g": mass_g,
        "extraction": [{"country": "CD", "share": 0.5}],
        "processing": [],
        "recycled_share": 0.0,
    }


@pytest.mark.parametrize("quantity", [1e20, 10**20], ids=["float", "integer-literal"])
def test_a_component_quantity_beyond_64_bits_reads_as_a_number(
    client, make_org, make_payload, sign, quantity
):
    # A whole quantity was shown as a Python int, which the response writer (orjson) cannot write past
    # 64 bits: the view answered 500 for a quantity DESIGN accepts.
    oem = make_org("noordhaven")
    foil = {"part_number": "FOIL-2", "supplier": None, "quantity": quantity, "request_disclosure": True}
    root = make_payload("noordhaven", "HULL-1", materials=[co_line(1.0)], components=[foil])
    post_declaration(client, oem, sign(oem, root))  # json.dumps writes 10**20 as an integer literal

    answer = client.get(f"/api/v1/chains/{root['id']}", headers=oem.headers)

    assert answer.status_code == 200, answer.get_data(as_text=True)
    gap = answer.get_json()["nodes"][1]
    assert (gap["gap"], gap["quantity"], gap["quantity_in_root"]) == ("unknown_supplier", 1e20, 1e20)


def test_stored_figures_beyond_64_bits_read_back_as_numbers(client, make_org, make_payload, sign, session):
    # PostgreSQL's JSONB writes a large float without an exponent (1e+300 -> "1000...0"), which the
    # driver's json module read back as an int the response writer cannot write: the view of any chain
    # holding such a mass answered 500 once its rollups were stored.
    maker = make_org("lumen")
    part = make_payload("lumen", "SLAB-1", materials=[co_line(1e300)])
    top = make_payload(
        "lumen",
        "SLAB-KIT",
        materials=[co_line(1.0)],
        components=[{"part_number": "SLAB-1", "supplier": "lumen", "quantity": 1}],
    )
    for payload in (part, top):
        post_declaration(client, maker, sign(maker, payload))
    rebuild_all(session)
    session.commit()

    for declaration_id in (part["id"], top["id"]):
        answer = client.get(f"/api/v1/chains/{declaration_id}", headers=maker.headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        view = answer.get_json()
        assert view["rollup"]["Co"]["mass_g"] == pytest.approx(1e300, rel=1e-11)
        assert sum(view["rollup"]["Co"]["extraction"].values()) == pytest.approx(1e300, rel=1e-11)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_is_read_whatever_its_label(client, make_org, content_type):
    # `curl -d '{...}'` labels the body application/x-www-form-urlencoded; the body was ignored and the
    # answer listed every field as missing. POST /api/v1/declarations already reads its body whatever
    # the label; the other endpoints now do the same.
    oem = make_org("noordhaven")
    make_org("lumen")
    headers = {**oem.headers, **({"Content-Type": content_type} if content_type else {})}
    body = json.dumps({"supplier": "lumen", "part_number": "MMIC-7"})

    answer = client.post("/api/v1/requests", data=body, headers=headers)

    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["supplier"] == "lumen"


def test_a_body_in_another_format_is_400_not_json(client, make_org):
    oem = make_org("noordhaven")
    headers = {**oem.headers, "Content-Type": "application/x-www-form-urlencoded"}

    answer = client.post("/api/v1/requests", data="supplier=lumen&part_number=MMIC-7", headers=headers)

    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert (error["code"], error["message"]) == ("malformed", "the request body is not valid JSON")


def test_a_bad_query_parameter_is_named_as_such(client, make_org):
    oem = make_org("noordhaven")

    answer = client.get(
        "/api/v1/chains/00000000-0000-4000-8000-000000000000?max_nodes=0", headers=oem.headers
    )

    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["message"] == "the query string breaks the rules"
    assert "max_nodes" in error["details"]


def test_shares_just_over_one_say_by_how_much(client, make_org, make_payload, sign):
    # The sum was printed with 6 significant digits: "add up to 1, more than 1".
    lumen = make_org("lumen")
    line = co_line(1.0) | {
        "processing": [{"country": "CN", "share": 0.5}, {"country": "AU", "share": 0.50000001}]
    }

    answer = client.post(
        "/api/v1/declarations",
        data=sign(lumen, make_payload("lumen", materials=[line])),
        headers=lumen.headers,
    )

    assert answer.status_code == 422
    assert answer.get_json()["error"]["details"] == {
        "materials.0.processing": "the processing shares add up to 1.00000001, more than 1"
    }


def skip_unless_postgresql() -> None:
    if os.environ.get("TIERTRACE_TEST_DB", "sqlite") != "postgresql":
        pytest.skip("READ COMMITTED: runs in the PostgreSQL pass (TIERTRACE_TEST_DB=postgresql)")


def test_after_begin_snapshot_a_session_reads_one_committed_state(session_factory):
    # What the chain view, the audit report and their CLI and web pages start with (begin_snapshot).
    skip_unless_postgresql()
    counted = select(func.count()).select_from(Organization)
    with session_factory() as reader, session_factory() as writer:
        reader.execute(counted)  # the request's authentication, say
        begin_snapshot(reader)
        before = reader.scalar(counted)
        create_organization(writer, slug="lumen", name="Lumen", country="DE", kind="company")
        writer.commit()

        assert reader.scalar(counted) == before
        reader.commit()
        assert reader.scalar(counted) == before + 1


def test_a_chain_view_shows_one_committed_state_while_the_merge_commits(
    client, make_org, make_payload, sign, submit, session_factory, monkeypatch
):
    # The view reads the root's rollup, then the rows below it level by level. Under PostgreSQL's READ
    # COMMITTED each statement saw the newest commit, so a merge committing in between gave a view whose
    # nodes showed a declaration that its rollup and coverage did not count yet: a client polling until
    # a node appears then read the old figures. (SQLite's transactions are snapshots already.)
    skip_unless_postgresql()
    oem, radar, fab = make_org("noordhaven"), make_org("helder"), make_org("lumen")
    mmic_line = {"part_number": "MMIC-7", "supplier": "lumen", "quantity": 2, "request_disclosure": True}
    trm = make_payload("helder", "TRM-2040", materials=[co_line(1.0)], components=[mmic_line])
    root = make_payload(
        "noordhaven", "SHIP-1", components=[{"part_number": "TRM-2040", "supplier": "helder", "quantity": 4}]
    )
    post_declaration(client, radar, sign(radar, trm))
    post_declaration(client, oem, sign(oem, root))
    with session_factory() as merger:
        rebuild_all(merger)
        merger.commit()
    mmic = make_payload("lumen", "MMIC-7", materials=[co_line(0.5)])
    read_root = services.require_rollup

    def merge_commits_after_the_root_was_read(session: Any, declaration_id: str) -> dict[str, Any]:
        data = read_root(session, declaration_id)
        submit(fab, mmic)
        with session_factory() as merger:
            refresh_rollups(merger, [mmic["id"]])
            merger.commit()
        return data

    monkeypatch.setattr(services, "require_rollup", merge_commits_after_the_root_was_read)

    view = client.get(f"/api/v1/chains/{root['id']}", headers=oem.headers).get_json()

    declared = [node for node in view["nodes"] if node["kind"] == "declaration"]
    assert view["coverage"]["components_declared"] == len(declared) - 1  # the root is no component
    assert view["coverage"]["max_tier"] == max(node["tier"] for node in declared)
    assert view["rollup"]["Co"]["mass_g"] == sum(
        node["quantity_in_root"] * node["rollup"]["Co"]["mass_g"] for node in declared if node["tier"] == 1
    )
