"""POST /api/v1/organizations: what the operator may register over HTTP."""

from __future__ import annotations

from sqlalchemy import func, select

from tiertrace.organizations.models import Organization

URL = "/api/v1/organizations"


def count_organizations(session_factory) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(Organization))


def test_a_company_is_registered_by_default_and_its_token_works(client, make_org):
    operator = make_org("operator", kind="operator")
    answer = client.post(
        URL, json={"slug": "lumen", "name": "Lumen", "country": "DE"}, headers=operator.headers
    )
    assert answer.status_code == 201
    token = answer.get_json()["token"]
    me = client.get(f"{URL}/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (me["slug"], me["kind"]) == ("lumen", "company")


def test_an_operator_cannot_register_another_operator_over_http(client, make_org, session_factory):
    """DESIGN.md's API registers companies and authorities; an operator token used to mint operators."""
    operator = make_org("operator", kind="operator")
    before = count_organizations(session_factory)
    body = {"slug": "second-operator", "name": "Second", "country": "NL", "kind": "operator"}
    answer = client.post(URL, json=body, headers=operator.headers)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert "tiertrace org create" in error["details"]["kind"][0]
    assert count_organizations(session_factory) == before
