"""The submit path's round trips: POST /api/v1/declarations sends a fixed, short list of statements.

Submitting is the portal's hot path (issue 2): on PostgreSQL every statement is a round trip, and on
both databases each one costs SQLAlchemy's per-execution work. The lookups of the same id and of the
part's current version go in one statement, and no statement of the path has an expanding parameter
(`IN (...)` of constants), which SQLAlchemy would render into the SQL again on every execution.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from statement_support import kinds, recorded

from tiertrace.declarations import services

POSTGRESQL = os.environ.get("TIERTRACE_TEST_DB") == "postgresql"

#: What each statement is, told by its SQL (the first pattern that matches).
KINDS = (
    ("begin", r"^BEGIN"),
    ("notify", r"^NOTIFY "),
    ("insert", r"^INSERT INTO (\w+)"),
    ("update", r"^UPDATE (\w+)"),
    ("token", r"JOIN api_tokens"),
    ("key", r"FROM signing_keys"),
    ("id and current", r"UNION ALL"),
)


@contextmanager
def statements(engine: Any) -> Iterator[list[str]]:
    """The kinds of the statements sent inside the block (complete once it ends)."""
    seen: list[str] = []
    with recorded(engine) as sent:
        yield seen
    seen.extend(kinds(sent, KINDS))


def post(client: Any, member: Any, body: bytes) -> Any:
    return client.post(
        "/api/v1/declarations", data=body, headers={**member.headers, "Content-Type": "application/json"}
    )


def expected(*middle: str) -> list[str]:
    """The statements of an accepted submission on the database under test, `middle` after the lookups.

    SQLite begins every transaction IMMEDIATE (its one write lock) and has no NOTIFY: the embedded
    relay is woken in-process.
    """
    return [
        *([] if POSTGRESQL else ["begin"]),
        "token",
        "key",
        "id and current",
        *middle,
        "update disclosure_requests",  # the requests the declaration answers
        "insert outbox_events",
        *(["notify"] if POSTGRESQL else []),
    ]


def test_an_accepted_declaration_takes_one_lookup_for_its_id_and_its_parts_current_version(
    client, engine, make_org, make_payload, sign
):
    supplier = make_org()
    first = make_payload(supplier.slug, "MMIC-7")
    with statements(engine) as seen:
        response = post(client, supplier, sign(supplier, first))
    assert response.status_code == 201, response.get_json()
    assert seen == expected("insert declarations")

    second = make_payload(supplier.slug, "MMIC-7", supersedes=first["id"])
    with statements(engine) as seen:
        response = post(client, supplier, sign(supplier, second))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["supersedes"] == first["id"]
    assert seen == expected(
        "update declarations",  # the old version retired
        "insert declarations",
        "update disclosure_requests",  # the requests the old version answered follow the new one
    )


def test_the_same_envelope_again_is_answered_from_that_one_lookup(
    client, engine, make_org, make_payload, sign
):
    supplier = make_org()
    envelope = sign(supplier, make_payload(supplier.slug, "MMIC-7"))
    assert post(client, supplier, envelope).status_code == 201
    with statements(engine) as seen:
        again = post(client, supplier, envelope)
    assert again.status_code == 200, again.get_json()
    assert seen == [*([] if POSTGRESQL else ["begin"]), "token", "key", "id and current"]


@pytest.mark.parametrize(
    "name",
    [
        "_KEY_AND_ISSUER",
        "_EXISTING_AND_CURRENT",
        "_CURRENT",
        "_RETIRE",
        "_INSERT_DECLARATION",
        "_REPOINT",
        "_ANSWER_WAITING",
        "_ANSWER_WAITING_AND_NAMED",
    ],
)
def test_no_statement_of_the_submit_path_is_rendered_again_on_each_execution(engine, name):
    # _SUPPLIER_IDS keeps its expanding IN: the list of suppliers is the payload's, of any length.
    compiled = getattr(services, name).compile(dialect=engine.dialect)
    assert not compiled.post_compile_params, compiled.post_compile_params


# The one lookup returns the row with the payload's id and the issuer's current version of the part; the
# rows are told apart by their values. Neither may be taken for the other.


def test_an_id_another_issuer_took_for_the_same_part_number_is_a_conflict(
    client, make_org, make_payload, sign
):
    first, second = make_org(), make_org()
    taken = make_payload(first.slug, "MMIC-7")
    assert post(client, first, sign(first, taken)).status_code == 201
    response = post(client, second, sign(second, make_payload(second.slug, "MMIC-7", id=taken["id"])))
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["details"] == {"id": taken["id"]}


def test_another_issuers_current_version_of_the_same_part_number_is_not_the_callers(
    client, make_org, make_payload, sign
):
    first, second = make_org(), make_org()
    assert post(client, first, sign(first, make_payload(first.slug, "MMIC-7"))).status_code == 201
    response = post(client, second, sign(second, make_payload(second.slug, "MMIC-7")))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["supersedes"] is None


def test_the_id_of_a_declaration_in_another_spelling_finds_it(client, make_org, make_payload, sign):
    supplier = make_org()
    first = make_payload(supplier.slug, "MMIC-7")
    assert post(client, supplier, sign(supplier, first)).status_code == 201
    respelled = make_payload(supplier.slug, "MMIC-7", id=first["id"].upper().replace("-", ""))
    response = post(client, supplier, sign(supplier, respelled))
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"]["details"] == {"id": respelled["id"]}


def test_a_new_version_names_the_current_one_found_by_the_same_lookup(client, make_org, make_payload, sign):
    supplier = make_org()
    first = make_payload(supplier.slug, "MMIC-7")
    assert post(client, supplier, sign(supplier, first)).status_code == 201
    unnamed = post(client, supplier, sign(supplier, make_payload(supplier.slug, "MMIC-7")))
    assert unnamed.status_code == 409, unnamed.get_json()
    assert unnamed.get_json()["error"]["details"] == {"current": first["id"]}
