"""Concurrent calls answer as if they had come one after the other: never a 500, a lost or a duplicated row.

Each test lets one transaction do its part through the domain service and keep it uncommitted, sends the
competing API call from another thread while it is open, and commits once that call waits for it. On
PostgreSQL (READ COMMITTED, several portal processes) this is the interleaving that used to end in a
unique violation or a lost update; on SQLite, whose writers are serialised, the call simply runs second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tiertrace import signing
from tiertrace.db import utcnow
from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import submit_declaration
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.propagation import propagate_declaration
from tiertrace.disclosure.services import create_request, decline_request
from tiertrace.organizations.models import Organization, SigningKey
from tiertrace.organizations.services import create_organization, register_key
from tiertrace.outbox.models import OutboxEvent

#: A backend waiting for a lock the holder's backend holds (pg_locks is live, unlike pg_stat_activity).
_WAITING_FOR_ME = text(
    "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
)


def _wait_until_blocked(holder: Session, thread: threading.Thread) -> None:
    """Until `thread` waits for a lock `holder` holds, or has finished (it had nothing to wait for)."""
    if holder.get_bind().dialect.name != "postgresql":
        thread.join(0.2)  # SQLite: the call waits for the holder's write lock from its first statement
        return
    deadline = time.monotonic() + 10
    while thread.is_alive() and not holder.scalar(_WAITING_FOR_ME) and time.monotonic() < deadline:
        time.sleep(0.01)


def while_open(
    session_factory: Any, hold: Callable[[Session], Any], call: Callable[[], Any]
) -> tuple[Any, Any]:
    """(what `hold` returned, what `call` returned): `call` runs in a thread while the transaction in
    which `hold` ran is still open; that transaction commits as soon as `call` waits for it."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    with session_factory() as holder:
        held = hold(holder)
        thread = threading.Thread(target=run)
        thread.start()
        _wait_until_blocked(holder, thread)
        holder.commit()
        thread.join(10)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return held, outcome["result"]


def submitting(member: Any, envelope: bytes) -> Callable[[Session], Any]:
    def hold(session: Session) -> Any:
        return submit_declaration(session, session.get_one(Organization, member.organization.id), envelope)

    return hold


def post_envelope(client: Any, member: Any, envelope: bytes) -> Callable[[], Any]:
    return lambda: client.post(
        "/api/v1/declarations", data=envelope, headers={**member.headers, "Content-Type": "application/json"}
    )


def test_the_same_envelope_twice_at_once_answers_200_with_the_first_body(
    client, make_org, make_payload, session_factory, sign
):
    lumen = make_org("lumen")
    envelope = sign(lumen, make_payload("lumen", "P-1"))
    first, second = while_open(
        session_factory, submitting(lumen, envelope), post_envelope(client, lumen, envelope)
    )
    assert second.status_code == 200
    assert second.get_json()["id"] == first.id
    assert (
        second.get_json()
        == client.post("/api/v1/declarations", data=envelope, headers=lumen.headers).get_json()
    )
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Declaration)) == 1


def test_two_first_declarations_of_one_part_at_once_conflict(
    client, make_org, make_payload, session_factory, sign
):
    lumen = make_org("lumen")
    first, second = while_open(
        session_factory,
        submitting(lumen, sign(lumen, make_payload("lumen", "P-1"))),
        post_envelope(client, lumen, sign(lumen, make_payload("lumen", "P-1"))),
    )
    assert second.status_code == 409
    with session_factory() as session:
        assert session.scalars(select(Declaration.id).where(Declaration.is_current)).all() == [first.id]


def test_two_new_versions_of_one_declaration_at_once_one_wins_and_takes_its_requests(
    client, make_org, make_payload, submit, session_factory, sign
):
    oem, lumen = make_org("oem"), make_org("lumen")
    asked = client.post(
        "/api/v1/requests", json={"supplier": "lumen", "part_number": "P-1"}, headers=oem.headers
    ).get_json()
    old = submit(lumen, make_payload("lumen", "P-1", in_response_to=asked["id"]))
    winner, loser = while_open(
        session_factory,
        submitting(lumen, sign(lumen, make_payload("lumen", "P-1", supersedes=old.id))),
        post_envelope(client, lumen, sign(lumen, make_payload("lumen", "P-1", supersedes=old.id))),
    )
    assert loser.status_code == 409
    assert loser.get_json()["error"]["details"] == {"supersedes": old.id, "current": winner.id}
    with session_factory() as session:
        assert session.scalars(select(Declaration.id).where(Declaration.is_current)).all() == [winner.id]
        assert session.get_one(Declaration, old.id).superseded_by_id == winner.id
        assert session.get_one(DisclosureRequest, asked["id"]).declaration_id == winner.id


def test_the_same_id_from_two_issuers_at_once_conflicts(
    client, make_org, make_payload, session_factory, sign
):
    lumen, other = make_org("lumen"), make_org("other")
    first = make_payload("lumen", "P-1")
    _, second = while_open(
        session_factory,
        submitting(lumen, sign(lumen, first)),
        post_envelope(client, other, sign(other, make_payload("other", "P-9", id=first["id"]))),
    )
    assert second.status_code == 409 and second.get_json()["error"]["details"] == {"id": first["id"]}
    with session_factory() as session:
        assert session.scalars(select(Declaration.issuer_id)).all() == [lumen.organization.id]


def asking(requester: Any, supplier: str, part: str) -> Callable[[Session], Any]:
    def hold(session: Session) -> Any:
        organization = session.get_one(Organization, requester.organization.id)
        return create_request(session, organization, supplier_slug=supplier, part_number=part).id

    return hold


def test_declining_a_request_that_a_declaration_answers_meanwhile_conflicts(
    client, make_org, make_payload, session_factory, sign
):
    oem, lumen = make_org("oem"), make_org("lumen")
    with session_factory() as session:
        request_id = asking(oem, "lumen", "P-1")(session)
        session.commit()
    declared, declined = while_open(
        session_factory,
        submitting(lumen, sign(lumen, make_payload("lumen", "P-1", in_response_to=request_id))),
        lambda: client.post(
            f"/api/v1/requests/{request_id}/decline", json={"reason": "no"}, headers=lumen.headers
        ),
    )
    assert declined.status_code == 409
    with session_factory() as session:
        request = session.get_one(DisclosureRequest, request_id)
        assert (request.status, request.declaration_id, request.decline_reason) == (
            "answered",
            declared.id,
            None,
        )


def test_declining_twice_at_once_declines_once(client, make_org, session_factory):
    oem, lumen = make_org("oem"), make_org("lumen")
    with session_factory() as session:
        request_id = asking(oem, "lumen", "P-1")(session)
        session.commit()

    def decline(session: Session) -> Any:
        return decline_request(
            session, session.get_one(Organization, lumen.organization.id), request_id, "no"
        )

    _, second = while_open(
        session_factory,
        decline,
        lambda: client.post(
            f"/api/v1/requests/{request_id}/decline", json={"reason": "not us"}, headers=lumen.headers
        ),
    )
    assert second.status_code == 200 and second.get_json()["decline_reason"] == "no"
    with session_factory() as session:
        declines = select(func.count()).where(OutboxEvent.type == "request.declined")
        assert session.scalar(declines) == 1


def test_answering_with_a_declaration_being_superseded_answers_with_the_new_version(
    client, make_org, make_payload, submit, session_factory, sign
):
    oem, lumen = make_org("oem"), make_org("lumen")
    old = submit(lumen, make_payload("lumen", "P-1"))
    request_id = client.post(
        "/api/v1/requests", json={"supplier": "lumen", "part_number": "P-1"}, headers=oem.headers
    ).get_json()["id"]
    new, answered = while_open(
        session_factory,
        submitting(lumen, sign(lumen, make_payload("lumen", "P-1", supersedes=old.id))),
        lambda: client.post(
            f"/api/v1/requests/{request_id}/answer", json={"declaration_id": old.id}, headers=lumen.headers
        ),
    )
    assert answered.status_code == 422
    with session_factory() as session:
        assert session.get_one(DisclosureRequest, request_id).declaration_id == new.id


def test_the_same_request_twice_at_once_is_asked_once(client, make_org, session_factory):
    oem, _ = make_org("oem"), make_org("lumen")
    first, second = while_open(
        session_factory,
        asking(oem, "lumen", "P-1"),
        lambda: client.post(
            "/api/v1/requests", json={"supplier": "lumen", "part_number": "P-1"}, headers=oem.headers
        ),
    )
    assert second.status_code == 409 and second.get_json()["error"]["details"] == {"id": first}
    with session_factory() as session:
        assert session.scalars(select(DisclosureRequest.id)).all() == [first]


@pytest.mark.parametrize(("second_org", "status"), [("lumen", 200), ("other", 409)])
def test_the_same_key_registered_twice_at_once(client, make_org, session_factory, second_org, status):
    members = {"lumen": make_org("lumen"), "other": make_org("other")}
    public_key = signing.encode_b64(signing.public_key_raw(signing.generate_private_key()))

    def register(session: Session) -> Any:
        return register_key(
            session, session.get_one(Organization, members["lumen"].organization.id), public_key
        )

    (key, created), second = while_open(
        session_factory,
        register,
        lambda: client.post(
            "/api/v1/keys", json={"public_key": public_key}, headers=members[second_org].headers
        ),
    )
    assert created and second.status_code == status
    with session_factory() as session:
        assert session.get_one(SigningKey, key.keyid).organization_id == members["lumen"].organization.id


def test_the_same_slug_registered_twice_at_once_conflicts(client, make_org, session_factory):
    operator = make_org("operator", kind="operator")
    body = {"slug": "lumen", "name": "Lumen", "country": "DE", "kind": "company"}
    _, second = while_open(
        session_factory,
        lambda session: create_organization(session, **body),
        lambda: client.post("/api/v1/organizations", json=body, headers=operator.headers),
    )
    assert second.status_code == 409 and second.get_json()["error"]["details"] == {"slug": "lumen"}
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Organization.slug == "lumen")) == 1


def test_a_request_forwarded_while_its_supplier_files_the_part_is_answered(
    make_org, make_payload, submit, session_factory, settings, sign
):
    oem, lumen = make_org("oem"), make_org("lumen")
    radar = submit(
        oem,
        make_payload(
            "oem",
            "RADAR-1",
            components=[
                {"part_number": "P-1", "supplier": "lumen", "quantity": 1, "request_disclosure": True}
            ],
        ),
    )

    def propagate() -> Any:
        with session_factory() as session:
            result = propagate_declaration(session, radar.id, now=utcnow(), settings=settings)
            session.commit()
            return result

    declared, _ = while_open(
        session_factory, submitting(lumen, sign(lumen, make_payload("lumen", "P-1"))), propagate
    )
    with session_factory() as session:
        forwarded = session.scalars(select(DisclosureRequest)).one()
        assert (forwarded.status, forwarded.declaration_id) == ("answered", declared.id)
