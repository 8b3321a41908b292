"""Who may open which page: anonymous visitors, other organisations, other kinds of organisation."""

from __future__ import annotations

import pytest
from web_helpers import csrf_of

from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization


@pytest.fixture
def filed(make_org, make_payload, submit, session_factory):
    """An OEM asked a supplier about P-1 and the supplier answered; a second request is still open."""
    supplier, oem = make_org("supplier"), make_org("oem")

    def ask(part: str) -> str:
        with session_factory() as session:
            requester = session.get(Organization, oem.organization.id)
            request = create_request(session, requester, supplier_slug="supplier", part_number=part)
            session.commit()
            return request.id

    answered = ask("P-1")
    declaration = submit(supplier, make_payload("supplier", "P-1", in_response_to=answered))
    return {"supplier": supplier, "oem": oem, "declaration": declaration.id, "open": ask("P-2")}


def test_every_page_sends_anonymous_visitors_to_the_login(client, filed):
    for path in (
        "/inbox",
        "/outbox",
        "/declarations",
        "/declarations/new",
        f"/declarations/{filed['declaration']}",
        f"/requests/{filed['open']}",
        f"/requests/{filed['open']}/declare",
        f"/chains/{filed['declaration']}",
        "/programmes",
        "/audit",
        "/observatory",
        "/settings",
    ):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/login?next="), path


def test_a_supplier_cannot_open_another_organisations_pages(client, filed, make_org, signed_in):
    signed_in(make_org("bystander"))
    for path in (
        f"/requests/{filed['open']}",
        f"/requests/{filed['open']}/declare",
        f"/declarations/{filed['declaration']}",
        f"/declarations/{filed['declaration']}/envelope.json",
        f"/declarations/{filed['declaration']}/supersede",
        f"/chains/{filed['declaration']}",
        "/programmes/SOMETHING",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "text/html" in answer.content_type
    token = csrf_of(client.get("/inbox").get_data(as_text=True))
    answer = client.post(f"/requests/{filed['open']}/decline", data={"reason": "no", "csrf_token": token})
    assert answer.status_code == 404


def test_the_requester_sees_its_request_but_cannot_answer_it(client, filed, signed_in):
    signed_in(filed["oem"])
    assert client.get(f"/requests/{filed['open']}").status_code == 200
    assert client.get(f"/requests/{filed['open']}/declare").status_code == 404
    assert client.get(f"/declarations/{filed['declaration']}").status_code == 200  # a customer reads it
    assert client.get(f"/declarations/{filed['declaration']}/supersede").status_code == 404


def test_a_company_cannot_open_the_ministrys_audit(client, filed, signed_in):
    signed_in(filed["oem"])
    assert client.get("/audit").status_code == 404
    assert client.get("/audit/ANY").status_code == 404
    assert client.get("/audit/export/xlsx/ANY").status_code == 404
    assert client.get("/observatory").status_code == 404
    assert client.get("/observatory/export.json").status_code == 404


def test_the_authority_cannot_file_declarations(client, make_org, signed_in):
    signed_in(make_org("ministry", kind="authority"))
    assert client.get("/").headers["Location"] == "/audit"
    assert client.get("/inbox").status_code == 404
    assert client.get("/declarations/new").status_code == 404


def test_the_api_ignores_the_web_session(client, filed, signed_in):
    signed_in(filed["supplier"])
    answer = client.get("/api/v1/organizations/me")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "unauthenticated"
    assert client.get("/api/v1/nothing-here").get_json()["error"]["code"] == "not_found"
    page = client.get("/nothing-here")
    assert page.status_code == 404 and "text/html" in page.content_type
