"""The ministry's audit page lists the programme's top-level declarations with who filed them."""

from __future__ import annotations

import re


def test_the_audit_names_who_filed_each_top_level_declaration_and_warns_when_several_did(
    client, make_org, make_payload, submit, bus, signed_in
):
    # Any company may put a programme's name on a top-level declaration (docs/security.md): the
    # ministry must see who filed each root to tell a stray one from the prime's.
    yard = make_org("noordhaven", name="Noordhaven Naval Shipyards B.V.")
    stray = make_org("rogue", name="Rogue Trading Ltd", country="GB")
    ministry = make_org("mod-nl", kind="authority", name="Ministry of Defence")
    submit(yard, make_payload("noordhaven", "FRIGATE-9", program="AUD-P"))
    signed_in(ministry)

    page = client.get("/audit/AUD-P").get_data(as_text=True)
    roots = re.search(r'<table[^>]*id="roots".*?</table>', page, re.S).group(0)
    assert "FRIGATE-9" in roots and "Noordhaven Naval Shipyards B.V. (NL)" in roots
    assert 'id="several-issuers"' not in page

    submit(stray, make_payload("rogue", "FAKE-1", program="AUD-P"))
    bus.drain(20)
    page = client.get("/audit/AUD-P").get_data(as_text=True)
    roots = re.search(r'<table[^>]*id="roots".*?</table>', page, re.S).group(0)
    assert "Rogue Trading Ltd (GB)" in roots and "FAKE-1" in roots
    assert "Filed by 2 organisations" in page
