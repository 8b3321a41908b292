"""Propagation's round trips: a hop up the tiers sends a fixed list of statements, whatever the batch."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from statement_support import kinds, recorded

from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.disclosure.propagation import propagate_declarations
from tiertrace.disclosure.services import create_request
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import lock_organizations

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
POSTGRESQL = os.environ.get("TIERTRACE_TEST_DB") == "postgresql"

#: What each statement of a hop is, told by its SQL.
KINDS = (
    ("notify", r"^NOTIFY "),
    ("insert", r"^INSERT INTO (\w+)"),
    ("lock", r"FOR NO KEY UPDATE"),
    ("recursive", r"^WITH RECURSIVE (\w+)"),
    ("known", r"UNION ALL"),
    ("facts", r"^SELECT declarations\.id"),
)


def hop(*recursive: str) -> list[str]:
    """The statements of a hop on the database under test, with `recursive` queries after the lock.

    SQLite has neither row locks nor NOTIFY: its one writer at a time serialises propagation, and the
    relay is woken in-process.
    """
    return [
        "facts",
        *(["lock"] if POSTGRESQL else []),
        *(f"recursive {name}" for name in recursive),
        "known",
        "insert disclosure_requests",
        "insert outbox_events",
        *(["notify"] if POSTGRESQL else []),
        "insert notifications",
    ]


def components(i: int, letter: str) -> list[dict[str, object]]:
    """Part `letter``i` from each of two registered suppliers, both asked for disclosure."""
    return [
        {"part_number": f"{letter}{i}", "supplier": supplier, "quantity": 1, "request_disclosure": True}
        for supplier in ("cells", "ore")
    ]


class Tier1:
    """A tier-1 supplier answering its OEM's requests, one part each, with two components each."""

    def __init__(self, make_org, make_payload, submit, session_factory):
        self.oem, self.member = make_org("oem"), make_org("tier1")
        make_org("cells"), make_org("ore")
        self.make_payload, self.submit, self.session_factory = make_payload, submit, session_factory

    def answers(self, n: int) -> list[str]:
        """Declarations of parts T0 … T<n-1>, each answering a request the OEM made for it; their ids."""
        ids = []
        for i in range(n):
            with self.session_factory() as session:
                oem = session.get(Organization, self.oem.organization.id)
                asked = create_request(session, oem, supplier_slug="tier1", part_number=f"T{i}")
                session.commit()
            payload = self.make_payload(
                "tier1", f"T{i}", in_response_to=asked.id, components=components(i, "C")
            )
            ids.append(self.submit(self.member, payload).id)
        return ids

    def new_version(self, i: int, supersedes: str, letter: str) -> str:
        """A new version of part T<i> that names no request, with components of its own."""
        payload = self.make_payload("tier1", f"T{i}", supersedes=supersedes, components=components(i, letter))
        return self.submit(self.member, payload).id


@pytest.fixture
def tier1(make_org, make_payload, submit, session_factory) -> Tier1:
    return Tier1(make_org, make_payload, submit, session_factory)


def propagate(session_factory, settings, engine, declaration_ids: list[str]) -> list[str]:
    """Propagate the declarations in one transaction (each opens two requests under the request it
    answers); the kinds of the statements that sent."""
    with session_factory() as session:
        session.connection()  # the transaction's BEGIN is not propagation's
        with recorded(engine) as statements:
            results = propagate_declarations(session, declaration_ids, now=NOW, settings=settings)
        session.commit()
    assert [(len(result.opened), bool(result.parent_id)) for result in results] == [(2, True)] * len(results)
    return kinds(statements, KINDS)


def test_a_hop_takes_one_statement_of_each_kind_and_a_batch_takes_the_statements_of_one(
    tier1, session_factory, settings, engine
):
    one, *batch = tier1.answers(6)
    assert propagate(session_factory, settings, engine, [one]) == hop("path")
    assert propagate(session_factory, settings, engine, batch) == hop("path")
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(DisclosureRequest.parent_id.is_not(None))) == 12


def test_new_versions_that_name_no_request_find_the_one_an_older_version_answers_in_one_query(
    tier1, session_factory, settings, engine
):
    """A version that names no request answers what the version it supersedes answered, or the one
    before that: the walk down the versions of a whole batch is one statement, not one per version."""
    firsts = tier1.answers(5)
    propagate(session_factory, settings, engine, firsts)
    seconds = [tier1.new_version(i, first, "D") for i, first in enumerate(firsts)]
    thirds = [tier1.new_version(i, second, "E") for i, second in enumerate(seconds)]

    assert propagate(session_factory, settings, engine, [thirds[0]]) == hop("older", "path")
    assert propagate(session_factory, settings, engine, seconds[1:] + thirds[1:]) == hop("older", "path")
    parent = aliased(DisclosureRequest)
    with session_factory() as session:
        forwarded = session.execute(
            select(DisclosureRequest.part_number, parent.part_number)
            .join(parent, parent.id == DisclosureRequest.parent_id)
            .where(DisclosureRequest.requester_id == tier1.member.organization.id)
        ).all()
    # Every component of every version hangs under the OEM's request for the part it goes into.
    assert len(forwarded) == 5 * 2 + 4 * 2 + 5 * 2
    assert all(part[1:] == parent_part[1:] for part, parent_part in forwarded)


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRESQL, reason="needs PostgreSQL row locks")
def test_the_lock_on_the_organisations_is_one_statement_text_whatever_their_number(
    make_org, session_factory, engine
):
    """The ids go as one array parameter: the statement is neither rendered anew for each number of ids
    nor prepared once per number by the driver; and it still locks every one of them."""
    ids = [make_org().organization.id for _ in range(4)]
    with session_factory() as session:
        with recorded(engine) as statements:
            for some in (ids[:1], ids[:3], ids):
                lock_organizations(session, some)
        with engine.connect() as other:
            for organization_id in ids:
                with pytest.raises(OperationalError, match="could not obtain lock"):
                    other.execute(
                        select(Organization.id)
                        .where(Organization.id == organization_id)
                        .with_for_update(key_share=True, nowait=True)
                    )
                other.rollback()
    assert len(statements) == 3
    assert len(set(statements)) == 1
