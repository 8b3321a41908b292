"""Disclosure requests over the API: create, list with filters and cursors, decline."""

from __future__ import annotations

from datetime import date, timedelta

import pytest


def ask(client, requester, supplier="lumen", part="P-1", **extra):
    return client.post(
        "/api/v1/requests",
        json={"supplier": supplier, "part_number": part, **extra},
        headers=requester.headers,
    )


def test_a_request_reads_as_designed(client, make_org):
    oem, _ = make_org("oem"), make_org("lumen")
    due = (date.today() + timedelta(days=30)).isoformat()
    response = ask(client, oem, program="ZEEHAVIK", due_date=due, message="Please declare")
    assert response.status_code == 201
    body = response.get_json()
    assert {
        k: body[k]
        for k in (
            "requester",
            "supplier",
            "part_number",
            "program",
            "status",
            "due_date",
            "parent_id",
            "declaration_id",
        )
    } == {
        "requester": "oem",
        "supplier": "lumen",
        "part_number": "P-1",
        "program": "ZEEHAVIK",
        "status": "open",
        "due_date": due,
        "parent_id": None,
        "declaration_id": None,
    }
    assert body["id"] and body["created_at"]


def test_incoming_and_outgoing_boxes_and_the_status_filter(client, make_org):
    oem, lumen = make_org("oem"), make_org("lumen")
    first = ask(client, oem, part="P-1").get_json()
    ask(client, oem, part="P-2")
    client.post(f"/api/v1/requests/{first['id']}/decline", json={"reason": "no"}, headers=lumen.headers)
    incoming = client.get("/api/v1/requests?box=incoming", headers=lumen.headers).get_json()
    assert sorted(r["part_number"] for r in incoming["items"]) == ["P-1", "P-2"] and incoming["next"] is None
    declined = client.get("/api/v1/requests?box=incoming&status=declined", headers=lumen.headers).get_json()
    assert [r["part_number"] for r in declined["items"]] == ["P-1"]
    assert client.get("/api/v1/requests?box=outgoing", headers=lumen.headers).get_json()["items"] == []
    assert len(client.get("/api/v1/requests?box=outgoing", headers=oem.headers).get_json()["items"]) == 2


@pytest.mark.parametrize("parameter", ["cursor", "next"])
def test_lists_page_with_a_cursor_without_losing_or_repeating_items(client, make_org, parameter):
    """The `next` of a page goes back as `cursor`, or under its own name: a client that sent it as
    `next` used to get the first page again, and loop for ever."""
    oem, lumen = make_org("oem"), make_org("lumen")
    for i in range(7):
        assert ask(client, oem, part=f"P-{i}").status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/requests?box=incoming&limit=3" + (f"&{parameter}={cursor}" if cursor else "")
        page = client.get(url, headers=lumen.headers).get_json()
        assert len(page["items"]) <= 3
        seen += [r["part_number"] for r in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None or pages > 3:
            break
    assert pages == 3
    assert sorted(seen) == [f"P-{i}" for i in range(7)] and len(seen) == 7


def test_a_cursor_and_a_next_naming_different_pages_are_422(client, make_org):
    oem, lumen = make_org("oem"), make_org("lumen")
    for i in range(3):
        ask(client, oem, part=f"P-{i}")
    first = client.get("/api/v1/requests?box=incoming&limit=1", headers=lumen.headers).get_json()
    second = client.get(
        f"/api/v1/requests?box=incoming&limit=1&cursor={first['next']}", headers=lumen.headers
    ).get_json()
    url = f"/api/v1/requests?box=incoming&limit=1&cursor={first['next']}&next={second['next']}"
    answer = client.get(url, headers=lumen.headers)
    assert answer.status_code == 422
    assert "cursor" in answer.get_json()["error"]["details"]


def test_bad_list_parameters_are_422(client, make_org):
    oem = make_org("oem")
    assert client.get("/api/v1/requests?box=sideways", headers=oem.headers).status_code == 422
    assert client.get("/api/v1/requests?box=incoming&status=lost", headers=oem.headers).status_code == 422
    assert client.get("/api/v1/requests?box=incoming&cursor=%%%", headers=oem.headers).status_code == 422


def test_declining_needs_a_reason_and_answers_the_request(client, make_org):
    oem, lumen = make_org("oem"), make_org("lumen")
    request = ask(client, oem).get_json()
    empty = client.post(
        f"/api/v1/requests/{request['id']}/decline", json={"reason": ""}, headers=lumen.headers
    )
    assert empty.status_code == 422 and "reason" in empty.get_json()["error"]["details"]
    done = client.post(
        f"/api/v1/requests/{request['id']}/decline",
        json={"reason": "export controlled"},
        headers=lumen.headers,
    )
    assert done.status_code == 200 and done.get_json()["status"] == "declined"


def test_asking_an_unknown_supplier_or_with_a_malformed_due_date_is_422_and_stores_nothing(client, make_org):
    oem, _ = make_org("oem"), make_org("lumen")
    assert ask(client, oem, supplier="ghost").status_code == 422
    assert ask(client, oem, due_date="31/01/2027").status_code == 422
    assert client.get("/api/v1/requests?box=outgoing", headers=oem.headers).get_json()["items"] == []


def test_the_same_pending_question_twice_is_a_conflict(client, make_org):
    oem, _ = make_org("oem"), make_org("lumen")
    first = ask(client, oem)
    again = ask(client, oem)
    assert (first.status_code, again.status_code) == (201, 409)
    assert again.get_json()["error"]["details"]["id"] == first.get_json()["id"]


def test_unknown_fields_in_a_body_are_422(client, make_org):
    oem, _ = make_org("oem"), make_org("lumen")
    response = ask(client, oem, colour="red")
    assert response.status_code == 422 and "colour" in response.get_json()["error"]["details"]


def test_one_answer_serves_every_customer_waiting_for_the_same_part(client, make_org, make_payload, sign):
    first, second, lumen = make_org("oem-a"), make_org("oem-b"), make_org("lumen")
    a = ask(client, first, part="MMIC-7").get_json()
    b = ask(client, second, part="MMIC-7").get_json()
    other = ask(client, second, part="OTHER").get_json()
    payload = make_payload("lumen", "MMIC-7", in_response_to=a["id"])
    assert (
        client.post("/api/v1/declarations", data=sign(lumen, payload), headers=lumen.headers).status_code
        == 201
    )
    for customer, request in ((first, a), (second, b)):
        mine = client.get("/api/v1/requests?box=outgoing", headers=customer.headers).get_json()["items"]
        status = {r["id"]: (r["status"], r["declaration_id"]) for r in mine}
        assert status[request["id"]] == ("answered", payload["id"])
        assert (
            client.get(f"/api/v1/declarations/{payload['id']}", headers=customer.headers).status_code == 200
        )
    outgoing = client.get("/api/v1/requests?box=outgoing", headers=second.headers).get_json()["items"]
    assert {r["id"]: r["status"] for r in outgoing}[other["id"]] == "open"


def test_a_supplier_answers_a_later_request_with_the_declaration_it_already_filed(
    client, make_org, make_payload, sign
):
    early, late, lumen = make_org("oem-a"), make_org("oem-b"), make_org("lumen")
    payload = make_payload("lumen", "MMIC-7")
    assert (
        client.post("/api/v1/declarations", data=sign(lumen, payload), headers=lumen.headers).status_code
        == 201
    )
    request = ask(client, late, part="MMIC-7").get_json()
    assert client.get(f"/api/v1/declarations/{payload['id']}", headers=late.headers).status_code == 404
    url = f"/api/v1/requests/{request['id']}/answer"
    wrong = client.post(url, json={"declaration_id": payload["id"]}, headers=early.headers)
    assert wrong.status_code == 403 or wrong.status_code == 404
    done = client.post(url, json={"declaration_id": payload["id"]}, headers=lumen.headers)
    assert done.status_code == 200
    assert (done.get_json()["status"], done.get_json()["declaration_id"]) == ("answered", payload["id"])
    assert client.get(f"/api/v1/declarations/{payload['id']}", headers=late.headers).status_code == 200


def test_a_supplier_may_answer_a_request_it_declined(client, make_org, make_payload, sign):
    # The supplier's later answer replaces its decline, as a declaration naming the request in
    # in_response_to does; the reason stays on record.
    oem, lumen = make_org("oem"), make_org("lumen")
    request = ask(client, oem, part="MMIC-7").get_json()
    declined = client.post(
        f"/api/v1/requests/{request['id']}/decline", json={"reason": "no data yet"}, headers=lumen.headers
    )
    assert declined.get_json()["status"] == "declined"
    payload = make_payload("lumen", "MMIC-7")
    client.post("/api/v1/declarations", data=sign(lumen, payload), headers=lumen.headers)
    url = f"/api/v1/requests/{request['id']}/answer"
    done = client.post(url, json={"declaration_id": payload["id"]}, headers=lumen.headers)
    assert done.status_code == 200
    body = done.get_json()
    assert (body["status"], body["declaration_id"], body["decline_reason"]) == (
        "answered",
        payload["id"],
        "no data yet",
    )
    assert client.get(f"/api/v1/declarations/{payload['id']}", headers=oem.headers).status_code == 200


def test_answering_with_a_declaration_of_another_part_is_422_and_changes_nothing(
    client, make_org, make_payload, sign
):
    oem, lumen = make_org("oem"), make_org("lumen")
    payload = make_payload("lumen", "OTHER")
    client.post("/api/v1/declarations", data=sign(lumen, payload), headers=lumen.headers)
    request = ask(client, oem, part="MMIC-7").get_json()
    response = client.post(
        f"/api/v1/requests/{request['id']}/answer",
        json={"declaration_id": payload["id"]},
        headers=lumen.headers,
    )
    assert response.status_code == 422 and "declaration_id" in response.get_json()["error"]["details"]
    mine = client.get("/api/v1/requests?box=outgoing", headers=oem.headers).get_json()["items"]
    assert mine[0]["status"] == "open"


def test_a_request_due_before_today_is_overdue_from_the_start(client, make_org, make_payload, sign):
    """A question first asked outside the portal is recorded with its old due date; it used to be
    refused (422), so nobody could enter one, and the chain could not show it as overdue."""
    oem, lumen = make_org("oem"), make_org("lumen")
    answer = ask(client, oem, part="P-LATE", due_date="2020-01-01")
    assert answer.status_code == 201, answer.get_json()
    assert (answer.get_json()["status"], answer.get_json()["due_date"]) == ("overdue", "2020-01-01")
    late = client.get("/api/v1/requests?box=incoming&status=overdue", headers=lumen.headers).get_json()
    assert [r["id"] for r in late["items"]] == [answer.get_json()["id"]]

    component = {"part_number": "P-LATE", "supplier": "lumen", "quantity": 1, "request_disclosure": True}
    root = make_payload("oem", "SHIP", components=[component])
    assert client.post("/api/v1/declarations", data=sign(oem, root), headers=oem.headers).status_code == 201
    view = client.get(f"/api/v1/chains/{root['id']}", headers=oem.headers).get_json()
    assert [(n["kind"], n["gap"]) for n in view["nodes"][1:]] == [("gap", "overdue")]
