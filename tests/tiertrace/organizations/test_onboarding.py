"""The operator's list of organisations to onboard (tiertrace.organizations.onboarding)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from tiertrace.organizations.onboarding import SupplierToOnboard, suppliers_to_onboard, tally_suppliers


def unregistered(name: str | None, country: str | None = "LU", part_number: str = "FOIL-2") -> dict:
    component = {"part_number": part_number, "supplier": None, "quantity": 1, "request_disclosure": True}
    if name is not None:
        component["supplier_name"] = name
    if country is not None:
        component["supplier_country"] = country
    return component


def listed(session_factory) -> list[SupplierToOnboard]:
    """The list, read in a session of its own (a SQLite transaction left open would lock out writers)."""
    with session_factory() as session:
        return suppliers_to_onboard(session)


def by_name(session_factory) -> dict[tuple[str, str | None], SupplierToOnboard]:
    return {(s.name, s.country): s for s in listed(session_factory)}


def test_a_supplier_named_without_a_slug_is_listed_with_counts_and_dates(
    session_factory, make_org, make_payload, submit
):
    helder, noord = make_org("helder"), make_org("noord")
    first = submit(helder, make_payload("helder", "A", components=[unregistered("Moselle Foil SA")]))
    submit(helder, make_payload("helder", "B", components=[unregistered("  moselle   FOIL sa ")]))
    last = submit(noord, make_payload("noord", "C", components=[unregistered("Moselle Foil SA")]))

    [entry] = listed(session_factory)

    assert entry == SupplierToOnboard(
        name="Moselle Foil SA",
        country="LU",
        declarations=3,
        organizations=2,
        first_named_at=first.accepted_at,
        last_named_at=last.accepted_at,
        registered_as=None,
    )


def test_an_entry_tells_nothing_of_who_named_the_supplier_or_for_which_part(
    session_factory, make_org, make_payload, submit
):
    helder = make_org("helder")
    submit(helder, make_payload("helder", "SECRET-PART", components=[unregistered("Moselle Foil SA")]))

    [entry] = listed(session_factory)

    assert set(asdict(entry)) == {
        "name",
        "country",
        "declarations",
        "organizations",
        "first_named_at",
        "last_named_at",
        "registered_as",
    }
    assert "helder" not in repr(entry) and "FOIL-2" not in repr(entry) and "SECRET" not in repr(entry)


def test_the_same_name_in_another_country_or_with_no_country_is_another_entry(
    session_factory, make_org, make_payload, submit
):
    helder = make_org("helder")
    components = [unregistered("Moselle Foil SA"), unregistered("Moselle Foil SA", "FR", "FOIL-3")]
    submit(helder, make_payload("helder", "A", components=components))
    submit(helder, make_payload("helder", "B", components=[unregistered("Moselle Foil SA", None)]))

    assert set(by_name(session_factory)) == {
        ("Moselle Foil SA", "LU"),
        ("Moselle Foil SA", "FR"),
        ("Moselle Foil SA", None),
    }


def test_a_declaration_naming_a_supplier_in_two_components_counts_once(
    session_factory, make_org, make_payload, submit
):
    helder = make_org("helder")
    components = [unregistered("Moselle Foil SA"), unregistered("MOSELLE FOIL SA", part_number="FOIL-3")]
    submit(helder, make_payload("helder", "A", components=components))

    [entry] = listed(session_factory)

    assert (entry.name, entry.declarations, entry.organizations) == ("Moselle Foil SA", 1, 1)


def test_the_list_is_most_named_first_then_by_most_organisations(
    session_factory, make_org, make_payload, submit
):
    helder, noord = make_org("helder"), make_org("noord")
    submit(helder, make_payload("helder", "A", components=[unregistered("Alpha Once BV", "NL")]))
    for part in ("B", "C", "D"):
        submit(helder, make_payload("helder", part, components=[unregistered("Zulu Thrice AG", "DE")]))
    for member, part in ((helder, "E"), (helder, "F")):
        submit(member, make_payload(member.slug, part, components=[unregistered("Mike One Issuer", "FR")]))
    for member, part in ((helder, "G"), (noord, "H")):
        submit(member, make_payload(member.slug, part, components=[unregistered("Oscar Two Issuers", "FR")]))

    assert [s.name for s in listed(session_factory)] == [
        "Zulu Thrice AG",
        "Oscar Two Issuers",
        "Mike One Issuer",
        "Alpha Once BV",
    ]


def test_only_current_declarations_count(session_factory, make_org, make_payload, submit):
    helder = make_org("helder")
    make_org("moselle", country="LU")
    old = submit(helder, make_payload("helder", "A", components=[unregistered("Moselle Foil SA")]))
    assert len(listed(session_factory)) == 1

    named = {"part_number": "FOIL-2", "supplier": "moselle", "quantity": 1}
    submit(helder, make_payload("helder", "A", supersedes=old.id, components=[named]))

    assert listed(session_factory) == []


def test_components_with_a_slug_or_without_a_name_are_not_listed(
    session_factory, make_org, make_payload, submit
):
    helder = make_org("helder")
    make_org("moselle", country="LU")
    components = [
        {"part_number": "X", "supplier": "moselle", "supplier_name": "Moselle Foil SA", "quantity": 1},
        unregistered(None),
        unregistered("   "),
    ]
    submit(helder, make_payload("helder", "A", components=components))

    assert listed(session_factory) == []


def test_a_supplier_now_registered_as_a_company_stays_listed_with_its_slug(
    session_factory, make_org, make_payload, submit
):
    helder = make_org("helder")
    submit(helder, make_payload("helder", "A", components=[unregistered("Moselle Foil SA")]))
    submit(helder, make_payload("helder", "B", components=[unregistered("Moselle Foil SA", "FR")]))
    make_org("ministry", kind="authority", country="LU", name="moselle foil sa")
    assert {s.registered_as for s in listed(session_factory)} == {None}  # an authority is no supplier

    make_org("moselle", country="LU", name="MOSELLE  Foil SA")

    entries = by_name(session_factory)
    assert entries["Moselle Foil SA", "LU"].registered_as == "moselle"
    assert entries["Moselle Foil SA", "FR"].registered_as is None


def test_nothing_named_gives_an_empty_list(session_factory, make_org, make_payload, submit):
    helder = make_org("helder")
    submit(helder, make_payload("helder", "A"))

    assert listed(session_factory) == []


def test_the_display_name_is_the_spelling_most_declarations_use():
    at = datetime(2025, 1, 1, tzinfo=UTC)
    namings = [
        (1, at, [unregistered("moselle foil sa")]),
        (2, at, [unregistered("Moselle Foil SA")]),
        (3, at, [unregistered("Moselle  Foil SA ")]),
        (4, at, [unregistered("MOSELLE FOIL SA")]),
    ]

    [entry] = tally_suppliers(namings, {})

    assert (entry.name, entry.declarations, entry.organizations) == ("Moselle Foil SA", 4, 4)
