"""`readable_ids`: many `can_read` answers at once, for the links of a chain page."""

from __future__ import annotations

import pytest

from tiertrace.declarations.models import Declaration
from tiertrace.declarations.services import can_read, readable_ids
from tiertrace.organizations.models import Organization


@pytest.mark.parametrize(
    "who", ["oem", "radar", "fab", "smelter", "caser", "stranger", "authority", "operator"]
)
def test_readable_ids_agrees_with_can_read_for_every_viewer(session, radar_chain, who):
    viewer = session.get(Organization, getattr(radar_chain, who).organization.id)
    ids = [radar_chain.root.id, radar_chain.trm.id, radar_chain.mmic.id, radar_chain.ga.id]

    expected = {i for i in ids if can_read(session, viewer, session.get_one(Declaration, i))}

    assert readable_ids(session, viewer, [*ids, "00000000-0000-4000-8000-000000000000"]) == expected


def test_the_oem_may_not_open_a_supplier_it_only_sees_named_in_the_chain(session, radar_chain):
    """The smelter is disclosed to the whole chain, so the OEM's view names it; its declaration is for its
    customers (the fab) and the authority: no link for the OEM."""
    oem = session.get(Organization, radar_chain.oem.organization.id)
    ids = [radar_chain.root.id, radar_chain.trm.id, radar_chain.ga.id]

    assert readable_ids(session, oem, ids) == {radar_chain.root.id, radar_chain.trm.id}


def test_an_older_version_stays_readable_by_the_customers_of_the_current_one(
    session, radar_chain, make_payload, submit
):
    newer = submit(
        radar_chain.radar,
        make_payload(radar_chain.radar.slug, "TRM-2040", supersedes=radar_chain.trm.id),
    )
    oem = session.get(Organization, radar_chain.oem.organization.id)
    stranger = session.get(Organization, radar_chain.stranger.organization.id)

    assert readable_ids(session, oem, [radar_chain.trm.id, newer.id]) == {radar_chain.trm.id, newer.id}
    assert readable_ids(session, stranger, [radar_chain.trm.id, newer.id]) == set()
