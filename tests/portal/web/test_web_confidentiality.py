"""Confidentiality sweep: every page, endpoint and download, as every kind of viewer, searched for what
that viewer may not learn (a sealed supplier's slug, name, part number, declaration, key and request ids).

The world: OEM-A -> Tier-1 (disclosed to its requester) -> Tier-2 (sealed: authority only) -> Tier-3
(disclosed to the chain). OEM-B buys the same Tier-1 part (linked to the same declaration). A bystander
company, the ministry and the operator. Responses are searched as bytes, with every base64 string and
every zip member (XLSX) decoded too.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tiertrace.declarations.models import Declaration
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.exports import FORMATS

PROGRAM = "ZEEHAVIK-C"
SEALED_PART = "SEAL-PN-77"
_BASE64 = re.compile(rb"[A-Za-z0-9+/_-]{24,}={0,2}")


def _first_request(session_factory: Any, supplier: Any) -> str:
    with session_factory() as session:
        found = session.scalar(
            select(DisclosureRequest.id)
            .where(DisclosureRequest.supplier_id == supplier.organization.id)
            .order_by(DisclosureRequest.created_at)
        )
        assert found is not None
        return found


@pytest.fixture
def world(make_org, make_payload, submit, bus, session_factory):
    oem_a = make_org("oem-alpha", name="Alpha Shipyards")
    oem_b = make_org("oem-bravo", name="Bravo Aerospace")
    tier1 = make_org("tier-one", name="Tier One Modules")
    tier2 = make_org("sealed-co", name="Sealed Nordic Oy", country="FI")
    tier3 = make_org("deep-co", name="Deep Mining Ltd", country="AU")
    bystander = make_org("bystander", name="Bystander Widgets")
    ministry = make_org("mod", kind="authority", name="Ministry of Defence")
    operator = make_org("ops", kind="operator", name="Portal Operator")
    ga = [{"material": "Ga", "mass_g": 1.0, "extraction": [{"country": "CN", "share": 0.5}]}]

    def listing(supplier: str, part: str, disclose: str) -> dict[str, Any]:
        return {
            "part_number": part,
            "supplier": supplier,
            "quantity": 2,
            "request_disclosure": True,
            "disclose_supplier_to": [disclose],
        }

    root_a = submit(
        oem_a,
        make_payload(
            "oem-alpha", "SHIP-A", program=PROGRAM, components=[listing("tier-one", "TRM-1", "requester")]
        ),
    )
    bus.drain(20)

    def answer(member: Any, part: str, components: list[dict[str, Any]]) -> tuple[str, str]:
        """The member answers its first request for `part`; (request id, declaration id)."""
        request_id = _first_request(session_factory, member)
        payload = make_payload(
            member.slug, part, in_response_to=request_id, materials=ga, components=components
        )
        declaration = submit(member, payload)
        bus.drain(20)
        return request_id, declaration.id

    r1, d1 = answer(tier1, "TRM-1", [listing("sealed-co", SEALED_PART, "authority")])
    r2, d2 = answer(tier2, SEALED_PART, [listing("deep-co", "ORE-3", "chain")])
    r3, d3 = answer(tier3, "ORE-3", [])
    root_b = submit(
        oem_b,
        make_payload(
            "oem-bravo", "JET-B", program="BRAVO-P", components=[listing("tier-one", "TRM-1", "requester")]
        ),
    )
    bus.drain(20)
    other = submit(bystander, make_payload("bystander", "WIDGET", materials=ga))
    bus.drain(20)
    with session_factory() as session:
        declarations = list(session.scalars(select(Declaration.id)))
        requests = list(session.scalars(select(DisclosureRequest.id)))
        r_b = session.scalar(
            select(DisclosureRequest.id).where(DisclosureRequest.requester_id == oem_b.organization.id)
        )
    return {
        "oem_a": oem_a,
        "oem_b": oem_b,
        "tier1": tier1,
        "tier2": tier2,
        "tier3": tier3,
        "bystander": bystander,
        "ministry": ministry,
        "operator": operator,
        "root_a": root_a.id,
        "root_b": root_b.id,
        "d1": d1,
        "d2": d2,
        "d3": d3,
        "other": other.id,
        "r1": r1,
        "r2": r2,
        "r3": r3,
        "r_b": r_b,
        "declarations": declarations,
        "requests": requests,
    }


def _sealed(world: dict[str, Any]) -> list[str]:
    """What identifies the sealed Tier-2 to anyone but itself, the Tier-1 that listed it and the authority."""
    tier2 = world["tier2"]
    return [tier2.slug, "Sealed Nordic", SEALED_PART, world["d2"], tier2.keyid, world["r2"], world["r3"]]


def _secrets(world: dict[str, Any], viewer: str) -> list[str]:
    """What `viewer` may not learn in this world.

    Not listed, as DESIGN has them reach the supplier (see the report of this sweep): a forwarded
    request's `parent_id` (the customer's request id) and the programme it inherits from its parent.
    """
    a, b = world["oem_a"], world["oem_b"]
    of_a = [a.slug, "Alpha Shipyards", world["root_a"]]
    of_b = [b.slug, "Bravo Aerospace", world["root_b"], world["r_b"], "BRAVO-P"]
    of_bystander = [world["bystander"].slug, "Bystander Widgets", world["other"]]
    tier1 = [world["tier1"].slug, "Tier One Modules", world["d1"]]
    return {
        "oem_a": _sealed(world) + of_b + of_bystander,
        "oem_b": _sealed(world) + of_a + [world["r1"], PROGRAM] + of_bystander,
        "bystander": _sealed(world) + of_a + of_b + tier1 + [world["tier3"].slug, world["d3"]],
        "operator": _sealed(world) + of_a + of_b + of_bystander + tier1 + [world["d3"]],
        "tier2": of_a + of_b + of_bystander,
        "tier3": of_a + of_b + of_bystander + tier1,
    }[viewer]


def _tolerated(world: dict[str, Any], viewer: str) -> dict[str, set[str]]:
    """Known findings, reported for a decision rather than fixed (see the xfail tests below)."""
    if viewer not in ("oem_a", "oem_b"):
        return {}
    d1 = world["d1"]
    # The Tier-1's signed payload names the request it answered (the other customer's) in in_response_to.
    in_response_to = {world["r1"]} if viewer == "oem_b" else set()
    return {
        f"/api/v1/declarations/{d1}": in_response_to,
    }


def _decoded(body: bytes) -> Iterator[bytes]:
    """The body, every zip member of it, and every base64 string in them decoded."""
    parts = [body]
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            parts.extend(archive.read(name) for name in archive.namelist())
    for part in parts:
        yield part
        for match in _BASE64.finditer(part):
            text = match.group(0)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    yield decode(text + b"=" * (-len(text) % 4))
                except (binascii.Error, ValueError):
                    continue


def _leaks(body: bytes, secrets: list[str], tolerated: set[str]) -> set[str]:
    found = {s for part in _decoded(body) for s in secrets if s.encode().lower() in part.lower()}
    return found - tolerated


def _api_paths(world: dict[str, Any]) -> list[str]:
    paths = [
        "/api/v1/organizations/me",
        "/api/v1/notifications",
        "/api/v1/audit/programs",
        f"/api/v1/audit/programs/{PROGRAM}",
        f"/api/v1/audit/programs/{PROGRAM}?format=csv",
        f"/api/v1/audit/programs/{PROGRAM}?format=xlsx",
        "/api/v1/observatory",
    ]
    for box in ("incoming", "outgoing"):
        paths.append(f"/api/v1/requests?box={box}")
    for declaration_id in world["declarations"]:
        paths += [f"/api/v1/declarations/{declaration_id}", f"/api/v1/chains/{declaration_id}"]
    return paths


def _web_paths(world: dict[str, Any]) -> list[str]:
    # Not the editor pages: their supplier picker lists every registered company (a directory, by design).
    paths = ["/", "/inbox", "/inbox?tab=answered", "/outbox", "/declarations", "/programmes", "/settings"]
    paths += [f"/programmes/{PROGRAM}", "/programmes/BRAVO-P", "/audit", f"/audit/{PROGRAM}"]
    paths += [f"/audit/export/{fmt}/{PROGRAM}" for fmt in FORMATS]
    paths += ["/observatory", "/observatory/export.json"]
    for declaration_id in world["declarations"]:
        paths += [
            f"/declarations/{declaration_id}",
            f"/declarations/{declaration_id}/envelope.json",
            f"/chains/{declaration_id}",
            *(f"/chains/{declaration_id}/export.{fmt}" for fmt in FORMATS),
        ]
    for request_id in world["requests"]:
        paths.append(f"/requests/{request_id}")
    return paths


@pytest.mark.parametrize("viewer", ["oem_a", "oem_b", "bystander", "operator", "tier2", "tier3"])
def test_no_api_answer_names_what_the_caller_may_not_learn(client, world, viewer):
    member = world[viewer]
    secrets, tolerated = _secrets(world, viewer), _tolerated(world, viewer)
    found = {}
    for path in _api_paths(world):
        answer = client.get(path, headers=member.headers)
        leaked = _leaks(answer.get_data(), secrets, tolerated.get(path.partition("?")[0], set()))
        if leaked:
            found[path] = sorted(leaked)
    assert found == {}


@pytest.mark.parametrize("viewer", ["oem_a", "oem_b", "bystander", "operator", "tier2", "tier3"])
def test_no_page_or_download_names_what_the_viewer_may_not_learn(client, world, signed_in, viewer):
    signed_in(world[viewer])
    secrets, tolerated = _secrets(world, viewer), _tolerated(world, viewer)
    found = {}
    for path in _web_paths(world):
        answer = client.get(path)
        leaked = _leaks(answer.get_data(), secrets, tolerated.get(path.partition("?")[0], set()))
        if leaked:
            found[path] = sorted(leaked)
    assert found == {}


def test_a_declaration_or_chain_one_may_not_see_answers_like_a_missing_one(client, world, signed_in):
    oem_a = world["oem_a"]
    missing = str(uuid.uuid4())
    for kind in ("declarations", "chains"):
        expected = client.get(f"/api/v1/{kind}/{missing}", headers=oem_a.headers)
        for hidden in (world["d2"], world["d3"], world["root_b"], world["other"]):
            answer = client.get(f"/api/v1/{kind}/{hidden}", headers=oem_a.headers)
            assert (answer.status_code, answer.get_json()) == (expected.status_code, expected.get_json())
    signed_in(oem_a)
    for template in (
        "/declarations/{}",
        "/declarations/{}/envelope.json",
        "/chains/{}",
        "/chains/{}/export.csv",
        "/requests/{}",
    ):
        expected = client.get(template.format(missing))
        hidden = world["r2"] if template.startswith("/requests") else world["d2"]
        answer = client.get(template.format(hidden))
        assert (answer.status_code, answer.get_data()) == (expected.status_code, expected.get_data())


def test_a_customer_reading_the_tier1_declaration_learns_nothing_of_the_sealed_component(client, world):
    """The chain view withholds a hidden node's part number (docs/chain-view.md: supplier part numbers
    identify the supplier); the declaration read still hands it out in the redacted component."""
    answer = client.get(f"/api/v1/declarations/{world['d1']}", headers=world["oem_a"].headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["envelope"] is None
    (component,) = body["payload"]["components"]
    assert component["undisclosed"] is True
    assert component["supplier"] is None and component["quantity"] == 2
    assert SEALED_PART not in answer.get_data(as_text=True)


@pytest.mark.xfail(strict=True, reason="suspected leak (DESIGN links it), left for a decision")
def test_naming_a_supplier_in_ones_own_declaration_does_not_open_its_declaration(
    client, world, make_payload, submit, bus
):
    """A company that lists (supplier, part) becomes a customer of the supplier's current declaration of
    that part at once (propagation links it): nobody asked the supplier. The bystander, unrelated to this
    chain, then reads the sealed Tier-2's declaration, envelope and chain."""
    probe = {"part_number": SEALED_PART, "supplier": "sealed-co", "quantity": 1, "request_disclosure": True}
    submit(world["bystander"], make_payload("bystander", "PROBE", components=[probe]))
    bus.drain(20)
    headers = world["bystander"].headers
    assert client.get(f"/api/v1/declarations/{world['d2']}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/chains/{world['d2']}", headers=headers).status_code == 404


def test_a_chain_page_links_only_the_declarations_the_viewer_may_open(client, world, signed_in):
    """The Tier-3 is disclosed to the whole chain, so OEM-A's tree names it; its declaration is for its
    customers and the authority. A link to it answered 404."""
    signed_in(world["oem_a"])
    html = client.get(f"/chains/{world['root_a']}").get_data(as_text=True)

    assert f"/declarations/{world['d1']}" in html  # OEM-A asked the Tier-1: its customer
    assert "deep-co" in html or "Deep" in html  # the Tier-3 is named...
    assert f"/declarations/{world['d3']}" not in html  # ...but not offered as a link
    assert client.get(f"/declarations/{world['d3']}").status_code == 404
