"""Asking a supplier from the web (Sent requests → Ask a supplier): the API's schema and service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from web_helpers import csrf_of, field_error

from tiertrace.db import utcnow
from tiertrace.disclosure.models import DisclosureRequest


@pytest.fixture
def world(make_org):
    return {
        "oem": make_org("noordhaven", name="Noordhaven Naval"),
        "supplier": make_org("nordic-sic", name="Nordic SiC Wafers AB", country="SE"),
    }


def send(client, **fields):
    token = csrf_of(client.get("/requests/new").get_data(as_text=True))
    return client.post("/requests/new", data={**fields, "csrf_token": token})


def requests_to(session_factory, member):
    with session_factory() as session:
        return list(
            session.scalars(
                select(DisclosureRequest).where(DisclosureRequest.supplier_id == member.organization.id)
            )
        )


def test_a_company_asks_a_supplier_and_the_request_reaches_its_inbox(
    client, world, signed_in, session_factory
):
    signed_in(world["oem"])
    outbox = client.get("/outbox").get_data(as_text=True)
    assert 'href="/requests/new"' in outbox
    form = client.get("/requests/new").get_data(as_text=True)
    assert "Nordic SiC Wafers AB (SE)" in form and ">Noordhaven Naval (" not in form  # not itself
    due = (utcnow() + timedelta(days=30)).date().isoformat()
    answer = send(
        client,
        supplier="nordic-sic",
        part_number=" SIC-SI-150-4H ",
        program="ZEEHAVIK",
        due_date=due,
        message="Please declare the 150 mm substrate.",
    )
    assert answer.status_code == 302
    (request,) = requests_to(session_factory, world["supplier"])
    assert answer.headers["Location"] == f"/requests/{request.id}"
    assert (request.part_number, request.program, request.due_date.isoformat(), request.status) == (
        "SIC-SI-150-4H",
        "ZEEHAVIK",
        due,
        "open",
    )
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "was sent to Nordic SiC Wafers AB" in page and "Please declare the 150 mm substrate." in page
    assert "SIC-SI-150-4H" in client.get("/outbox").get_data(as_text=True)


def test_a_request_without_a_due_date_gets_the_default_one(
    client, world, signed_in, session_factory, settings
):
    signed_in(world["oem"])
    assert send(client, supplier="nordic-sic", part_number="SIC-BOULE-6").status_code == 302
    (request,) = requests_to(session_factory, world["supplier"])
    assert request.due_date == (utcnow() + timedelta(days=settings.default_due_days)).date()
    assert request.program is None and request.message is None


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"supplier": "", "part_number": "P-1"}, "request-supplier", "Choose the supplier to ask"),
        ({"supplier": "ghost-corp", "part_number": "P-1"}, "request-supplier", "Choose the supplier to ask"),
        # the service's reason, in words: "Choose the supplier" alone does not say what was wrong
        (
            {"supplier": "noordhaven", "part_number": "P-1"},
            "request-supplier",
            "You cannot send a request to your own organisation, Noordhaven Naval: choose a supplier",
        ),
        ({"supplier": "nordic-sic", "part_number": "  "}, "request-part_number", "Enter the part number"),
        ({"supplier": "nordic-sic", "part_number": "P" * 101}, "request-part_number", "at most 100"),
        (
            {"supplier": "nordic-sic", "part_number": "P-1", "due_date": "31/01/2027"},
            "request-due_date",
            "Enter the date as YYYY-MM-DD",
        ),
    ],
)
def test_a_bad_request_form_shows_the_problem_next_to_its_field_and_sends_nothing(
    client, world, signed_in, session_factory, fields, field, text
):
    signed_in(world["oem"])
    answer = send(client, **fields)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert text in field_error(html, field)
    assert f'href="#{field}"' in html  # the summary at the top links to it
    assert requests_to(session_factory, world["supplier"]) == []


def test_the_message_after_sending_ends_with_one_full_stop_whatever_the_suppliers_name(
    client, make_org, signed_in
):
    make_org("heilong", name="Heilong Graphite Anode Co., Ltd.")
    signed_in(make_org("noordhaven", name="Noordhaven Naval"))
    answer = send(client, supplier="heilong", part_number="HG-ANODE-9")
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Your request for HG-ANODE-9 was sent to Heilong Graphite Anode Co., Ltd.</p>" in page
    assert "Ltd.." not in page


def test_asking_the_same_open_question_again_links_the_pending_request_and_sends_nothing(
    client, world, signed_in, session_factory
):
    signed_in(world["oem"])
    assert send(client, supplier="nordic-sic", part_number="P-1").status_code == 302
    again = send(client, supplier="nordic-sic", part_number="P-1")
    assert again.status_code == 409
    (request,) = requests_to(session_factory, world["supplier"])
    html = again.get_data(as_text=True)
    assert "You asked this already" in html and f'href="/requests/{request.id}"' in html


def test_only_companies_ask_suppliers(client, make_org, signed_in):
    signed_in(make_org("mod-nl", kind="authority"))
    assert client.get("/requests/new").status_code == 404
