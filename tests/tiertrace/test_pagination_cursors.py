"""A list cursor holding text no database can store (NUL, an unpaired surrogate) is a bad cursor like any
other: 422 over the API, on SQLite and on PostgreSQL (which refused it in the query: a 500)."""

from __future__ import annotations

import base64
import json

import pytest

from tiertrace.db import utcnow
from tiertrace.disclosure.notifications import ensure_request_notification, list_notifications
from tiertrace.errors import RuleViolationError
from tiertrace.organizations.models import Organization

STAMP = "2026-11-29T12:28:07.928375+00:00"
LISTS = ("/api/v1/notifications", "/api/v1/requests?box=incoming", "/api/v1/requests?box=outgoing")
UNSTORABLE = [
    ["newest", STAMP, "\x00"],
    ["newest", STAMP, "a\x00b"],
    ["newest", STAMP, "a\ud800b"],
    ["newest", "2026-11-29T12:28:07\x00", "x"],
    ["newest\x00", STAMP, "x"],
]


def _cursor(values: object) -> str:
    # ensure_ascii (the default) writes NUL and the surrogate as \u escapes, as a client's JSON may.
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.fixture
def world(client, make_org, session_factory):
    """A request from an OEM to a supplier: a request in either box and a notification to the supplier
    (made here as the bus would)."""
    oem, supplier = make_org("oem"), make_org("jinlu")
    made = client.post(
        "/api/v1/requests", json={"supplier": "jinlu", "part_number": "P-1"}, headers=oem.headers
    )
    assert made.status_code == 201
    with session_factory() as session:
        ensure_request_notification(session, made.get_json()["id"], now=utcnow())
        session.commit()
    return {"oem": oem, "supplier": supplier}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("values", UNSTORABLE, ids=repr)
def test_a_cursor_with_unstorable_text_is_422_and_the_list_still_answers(client, world, path, values):
    who = world["oem"] if "outgoing" in path else world["supplier"]
    before = client.get(path, headers=who.headers)
    assert before.status_code == 200 and before.get_json()["items"]

    separator = "&" if "?" in path else "?"
    answer = client.get(f"{path}{separator}cursor={_cursor(values)}", headers=who.headers)

    assert answer.status_code == 422, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert error["message"] == "bad cursor" and "cursor" in error["details"]
    after = client.get(path, headers=who.headers)
    assert after.status_code == 200 and after.get_json() == before.get_json()


@pytest.mark.parametrize("values", UNSTORABLE, ids=repr)
def test_the_list_refuses_it_before_any_query(session_factory, world, values):
    with session_factory() as session:
        supplier = session.get(Organization, world["supplier"].organization.id)
        with pytest.raises(RuleViolationError) as refused:
            list_notifications(session, supplier, cursor=_cursor(values))
        assert refused.value.message == "bad cursor"
        # The session is still usable: nothing reached the database (PostgreSQL aborts the transaction).
        assert list_notifications(session, supplier).items
