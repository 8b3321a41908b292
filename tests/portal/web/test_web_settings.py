"""The settings page: API tokens made and revoked there work on API v1; signing keys; people."""

from __future__ import annotations

import re

from web_helpers import csrf_of, field_error

from tiertrace import signing


def test_a_token_created_on_the_settings_page_is_shown_once_and_works_until_revoked(
    client, make_org, signed_in
):
    signed_in(make_org("lumen"))
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    created = client.post("/settings/tokens", data={"label": "ERP export", "csrf_token": token})
    html = created.get_data(as_text=True)
    secret = re.search(r'<code class="secret" id="new-token">([A-Za-z0-9_-]+)</code>', html).group(1)
    assert client.get("/settings").get_data(as_text=True).count(secret) == 0  # never shown again

    api = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/organizations/me", headers=api).get_json()["slug"] == "lumen"

    token_id = re.findall(r"/settings/tokens/(\d+)/revoke", html)
    labels = re.findall(r"<tr[^>]*><td>([^<]+)</td>", html)
    revoke = dict(zip(labels, token_id, strict=False))["ERP export"]
    assert client.post(f"/settings/tokens/{revoke}/revoke", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/v1/organizations/me", headers=api).status_code == 401


def test_another_organisations_token_cannot_be_revoked(client, make_org, signed_in, session_factory):
    other = make_org("other")
    signed_in(make_org("lumen"))
    from sqlalchemy import select

    from tiertrace.organizations.models import ApiToken

    with session_factory() as session:
        foreign = session.scalar(select(ApiToken.id).where(ApiToken.organization_id == other.organization.id))
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    assert client.post(f"/settings/tokens/{foreign}/revoke", data={"csrf_token": token}).status_code == 404
    assert client.get("/api/v1/organizations/me", headers=other.headers).status_code == 200


def test_a_signing_key_is_registered_and_revoked_from_the_settings_page(client, make_org, signed_in):
    signed_in(make_org("lumen"))
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    raw = signing.public_key_raw(signing.generate_private_key())
    keyid = signing.keyid_for(raw)
    bad = client.post("/settings/keys", data={"public_key": "not a key", "csrf_token": token})
    assert bad.status_code == 422
    assert field_error(bad.get_data(as_text=True), "public_key") == (
        "This is not an Ed25519 public key: "
        "paste the public key tiertrace keygen printed, or choose the key file"
    )

    assert (
        client.post(
            "/settings/keys", data={"public_key": signing.encode_b64(raw), "csrf_token": token}
        ).status_code
        == 302
    )
    page = client.get("/settings").get_data(as_text=True)
    assert keyid in page
    assert client.post("/settings/keys/revoke", data={"keyid": keyid, "csrf_token": token}).status_code == 302
    assert "revoked" in client.get("/settings").get_data(as_text=True)


def test_the_settings_page_lists_the_organisations_people(client, make_org, make_person, signed_in):
    member = make_org("lumen")
    colleague = make_person(member)
    signed_in(member)
    assert colleague.email in client.get("/settings").get_data(as_text=True)


def test_a_key_that_is_not_a_public_key_is_refused_in_plain_words(client, make_org, signed_in):
    signed_in(make_org("lumen"))
    token = csrf_of(client.get("/settings").get_data(as_text=True))
    pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----"  # the wrong file
    for wrong in ("not a key", signing.encode_b64(b"x" * 31), pem):
        answer = client.post("/settings/keys", data={"public_key": wrong, "csrf_token": token})
        assert answer.status_code == 422
        html = answer.get_data(as_text=True)
        assert field_error(html, "public_key").startswith("This is not an Ed25519 public key")
        assert "base64 of a raw" not in html and "32-byte" not in html
