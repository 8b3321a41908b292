"""GET /api/v1/chains/{declaration_id}: the redacted chain view over HTTP."""

from __future__ import annotations

import pytest
from chain_support import ga_line
from sqlalchemy import select

from tiertrace.audit.models import AuditLogEntry


@pytest.fixture
def chain(client, make_org, make_payload, sign):
    """The OEM asked the radar maker, which keeps its MMIC fab for the authority only. The radar maker
    counts its modules in pieces, the fab its dies in cm2 of wafer."""
    members = {
        "oem": make_org("noordhaven", name="Noordhaven Naval Shipyards"),
        "radar": make_org("helder-sensors", name="Helder Sensor Systems"),
        "fab": make_org("lumen-compound", name="Lumen Compound Semiconductors", country="DE"),
        "stranger": make_org("elsewhere"),
        "authority": make_org("ministry", kind="authority"),
        "operator": make_org("operator", kind="operator"),
    }
    request = client.post(
        "/api/v1/requests",
        json={"supplier": "helder-sensors", "part_number": "TRM-2040"},
        headers=members["oem"].headers,
    ).get_json()
    die = {"number": "MMIC-7", "name": "MMIC die", "unit": "cm2"}
    mmic = make_payload("lumen-compound", "MMIC-7", part=die, materials=[ga_line(0.25)])
    trm = make_payload(
        "helder-sensors",
        "TRM-2040",
        in_response_to=request["id"],
        components=[{"part_number": "MMIC-7", "supplier": "lumen-compound", "quantity": 2}],
    )
    root = make_payload(
        "noordhaven",
        "ZEEHAVIK-1",
        components=[{"part_number": "TRM-2040", "supplier": "helder-sensors", "quantity": 4}],
    )
    for who, payload in (("fab", mmic), ("radar", trm), ("oem", root)):
        answer = client.post(
            "/api/v1/declarations", data=sign(members[who], payload), headers=members[who].headers
        )
        assert answer.status_code == 201, answer.get_json()
    return {"members": members, "root": root["id"], "trm": trm["id"], "mmic": mmic["id"]}


def get_chain(client, chain, who, declaration_id=None, query=""):
    headers = chain["members"][who].headers if who else {}
    return client.get(f"/api/v1/chains/{declaration_id or chain['root']}{query}", headers=headers)


def test_the_root_issuer_gets_the_view_redacted_for_it(client, chain):
    answer = get_chain(client, chain, "oem")

    assert answer.status_code == 200
    view = answer.get_json()
    assert set(view) == {"root", "rollup", "coverage", "nodes", "truncated"}
    assert view["rollup"]["Ga"] == {
        "mass_g": 2.0,
        "recycled_g": 0.0,
        "extraction": {"CN": 1.6, "unknown": 0.4},
        "processing": {"CN": 1.96, "unknown": 0.04},
    }
    assert [node["tier"] for node in view["nodes"]] == [0, 1, 2]
    fab = view["nodes"][2]
    assert (fab["undisclosed"], fab["supplier"], fab["declaration_id"], fab["part_number"]) == (
        True,
        None,
        None,
        None,
    )
    assert "lumen" not in answer.get_data(as_text=True).lower()
    assert chain["mmic"] not in answer.get_data(as_text=True)


def test_every_node_says_what_one_unit_of_its_part_is(client, chain, make_payload, sign):
    oem = chain["members"]["oem"]
    escort = make_payload(
        "noordhaven",
        "ESCORT-1",
        part={"number": "ESCORT-1", "name": "escort ship", "unit": "ship"},
        components=[
            {"part_number": "TRM-2040", "supplier": "helder-sensors", "quantity": 0.5},
            {"part_number": "FOIL-2", "supplier": None, "supplier_name": "Moselle Foil SA", "quantity": 0.2},
        ],
    )
    assert client.post("/api/v1/declarations", data=sign(oem, escort), headers=oem.headers).status_code == 201

    def units(who):
        view = get_chain(client, chain, who, escort["id"]).get_json()
        return [(n["kind"], n["undisclosed"], n["quantity"], n["unit"]) for n in view["nodes"]]

    assert units("authority") == [
        ("declaration", False, 1, "ship"),  # the rollup is per ship
        ("declaration", False, 0.5, "piece"),
        ("gap", False, 0.2, None),
        ("declaration", False, 2, "cm2"),
    ]
    # The OEM may not learn who makes the dies, nor read the unit that fab wrote.
    assert units("oem")[3] == ("declaration", True, 2, None)


def test_the_authority_sees_every_supplier_and_its_read_is_audit_logged(client, chain, session):
    view = get_chain(client, chain, "authority").get_json()

    assert view["nodes"][2]["supplier"]["slug"] == "lumen-compound"
    entries = session.scalars(select(AuditLogEntry).where(AuditLogEntry.action == "chain.read")).all()
    assert [(e.organization_id, e.subject, e.details["via"]) for e in entries] == [
        (chain["members"]["authority"].organization.id, chain["root"], "api")
    ]


@pytest.mark.parametrize("who", ["stranger", "radar", "operator"])
def test_those_who_may_not_see_the_root_get_404(client, chain, who):
    answer = get_chain(client, chain, who)

    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_an_unknown_declaration_is_404_and_a_missing_token_401(client, chain):
    assert get_chain(client, chain, "authority", "00000000-0000-4000-8000-000000000000").status_code == 404
    assert get_chain(client, chain, None).status_code == 401


def test_max_nodes_and_depth_truncate_the_list_but_not_the_figures(client, chain):
    cut = get_chain(client, chain, "authority", query="?max_nodes=2").get_json()
    shallow = get_chain(client, chain, "authority", query="?depth=1").get_json()

    assert (len(cut["nodes"]), cut["truncated"]) == (2, True)
    assert ([n["tier"] for n in shallow["nodes"]], shallow["truncated"]) == ([0, 1], True)
    assert (
        cut["coverage"]
        == shallow["coverage"]
        == {
            "components_total": 2,
            "components_declared": 2,
            "max_tier": 2,
            "traced": {"Ga": {"extraction": 0.8, "processing": 0.98}},
        }
    )


@pytest.mark.parametrize("query", ["?max_nodes=0", "?depth=-1", "?max_nodes=many", "?max_nodes=200001"])
def test_bad_query_parameters_are_422(client, chain, query):
    answer = get_chain(client, chain, "authority", query=query)

    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "invalid"


def test_the_endpoint_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()

    operation = spec["paths"]["/api/v1/chains/{declaration_id}"]["get"]
    assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == {"max_nodes", "depth"}
    unit = spec["components"]["schemas"]["ChainNode"]["properties"]["unit"]
    assert unit["nullable"] is True and "part.unit" in unit["description"]
