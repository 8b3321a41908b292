"""What an attacker sends the pages: form text no database can hold gets a clear 400 (docs/security.md)."""

from __future__ import annotations

from web_helpers import csrf_of


def test_a_form_field_holding_nul_is_a_clear_400_and_sends_nothing(client, make_org, signed_in):
    oem, lumen = make_org("oem"), make_org("lumen")
    signed_in(oem)
    token = csrf_of(client.get("/requests/new").get_data(as_text=True))
    answer = client.post(
        "/requests/new", data={"supplier": "lumen", "part_number": "P-\x001", "csrf_token": token}
    )
    assert answer.status_code == 400
    assert "NUL" in answer.get_data(as_text=True)
    incoming = client.get("/api/v1/requests?box=incoming", headers=lumen.headers).get_json()
    assert incoming["items"] == []
