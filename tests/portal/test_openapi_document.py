"""/api/v1/openapi.json says every status an endpoint answers, and stays a well-formed OpenAPI 3 document."""

from __future__ import annotations

import re
from typing import Any

import pytest
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from portal.api import PUBLIC_PATHS, CommonErrorResponses

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

#: DESIGN.md's API table, with the statuses DESIGN names for each: 401 for a missing or invalid token on
#: all, 404 where the path names a resource the caller may not see.
DESIGN_STATUSES = {
    ("post", "/api/v1/organizations"): {"201", "401"},
    ("get", "/api/v1/organizations/me"): {"200", "401"},
    ("post", "/api/v1/keys"): {"201", "200", "401"},
    ("delete", "/api/v1/keys/{keyid}"): {"204", "401", "404"},
    ("post", "/api/v1/requests"): {"201", "401"},
    ("get", "/api/v1/requests"): {"200", "401"},
    ("post", "/api/v1/requests/{request_id}/decline"): {"200", "401", "404"},
    ("post", "/api/v1/declarations"): {"201", "200", "400", "401", "403", "409", "413", "422"},
    ("get", "/api/v1/declarations/{declaration_id}"): {"200", "401", "404"},
    ("get", "/api/v1/chains/{declaration_id}"): {"200", "401", "404"},
    ("get", "/api/v1/audit/programs/{program}"): {"200", "401", "404"},
}


@pytest.fixture
def document(client) -> dict[str, Any]:
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.get_json()
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or what its `$ref` (a local JSON pointer) names; KeyError when it names nothing."""
    while "$ref" in node:
        assert node["$ref"].startswith("#/"), node
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def error_schema_ref(document: dict[str, Any], response: dict[str, Any]) -> str | None:
    content = resolve(document, response).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    ref: str | None = schema.get("$ref")
    return ref


@pytest.mark.parametrize(("method", "path"), sorted(DESIGN_STATUSES))
def test_every_operation_of_design_lists_its_statuses(document, method, path):
    operation = document["paths"][path][method]
    assert DESIGN_STATUSES[(method, path)] <= set(operation["responses"])


def test_every_operation_lists_401_and_every_path_naming_a_resource_404_with_the_error_schema(document):
    error = "#/components/schemas/Error"
    assert resolve(document, {"$ref": error})["properties"]["error"]
    found = operations(document)
    assert len(found) >= len(DESIGN_STATUSES)
    for method, path, operation in found:
        responses = operation["responses"]
        assert error_schema_ref(document, responses["401"]) == error, (method, path)
        if "{" in path:
            assert error_schema_ref(document, responses["404"]) == error, (method, path)
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith("4"):
                assert error_schema_ref(document, response) == error, (method, path, status)


def test_each_documented_401_is_what_a_call_without_a_token_answers(client, document):
    for method, path, operation in operations(document):
        url = re.sub(r"\{[^}]+\}", "anything", path)
        answer = client.open(url, method=method.upper(), json={})
        assert answer.status_code == 401, (method, path)
        assert answer.get_json()["error"]["code"] == "unauthenticated"
        assert "401" in operation["responses"]


def test_the_audit_report_documents_its_json_body_and_its_attachments(document):
    ok = document["paths"]["/api/v1/audit/programs/{program}"]["get"]["responses"]["200"]
    content = ok["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/AuditReport"}
    assert {"program", "roots", "completeness", "risk", "gaps", "summary"} <= set(
        resolve(document, content["application/json"]["schema"])["properties"]
    )
    assert content["text/csv; charset=utf-8"]["schema"] == {"type": "string"}
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert content[xlsx]["schema"] == {"type": "string", "format": "binary"}


def test_the_document_is_well_formed_openapi_3(document):
    """What OpenAPI 3.0 asks of what this document uses (no validator is among the dependencies)."""
    assert document["openapi"].startswith("3.0.")
    assert document["info"]["title"] and document["info"]["version"]
    schemes = document["components"]["securitySchemes"]
    assert all(set(requirement) <= set(schemes) for requirement in document["security"])

    def walk(node: Any) -> None:  # every reference names something in the document
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(document, node)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(document)
    operation_ids = []
    for method, path, operation in operations(document):
        assert path.startswith("/"), path
        operation_ids.append(operation.get("operationId"))
        parameters = [
            resolve(document, p)
            for p in [*document["paths"][path].get("parameters", []), *operation.get("parameters", [])]
        ]
        in_path = {p["name"] for p in parameters if p["in"] == "path"}
        assert in_path == set(re.findall(r"\{([^}]+)\}", path)), (method, path)
        assert all(p["required"] is True for p in parameters if p["in"] == "path")
        assert all(p["in"] in {"path", "query", "header", "cookie"} and "schema" in p for p in parameters)
        if "requestBody" in operation:
            body = resolve(document, operation["requestBody"])
            assert all("schema" in media for media in body["content"].values()), (method, path)
        assert operation["responses"], (method, path)
        for status, response in operation["responses"].items():
            assert status == "default" or re.fullmatch(r"[1-5][0-9X]{2}", status), (method, path, status)
            response = resolve(document, response)
            assert isinstance(response["description"], str), (method, path, status)
            assert all("schema" in media for media in response.get("content", {}).values())
    named = [i for i in operation_ids if i is not None]
    assert len(named) == len(set(named))


def _spec_with(path: str) -> dict[str, Any]:
    spec = APISpec("t", "1", "3.0.3", plugins=[MarshmallowPlugin(), CommonErrorResponses()])
    spec.path(path=path, operations={"get": {"responses": {"200": {"description": "OK"}}}})
    responses: dict[str, Any] = spec.to_dict()["paths"][path]["get"]["responses"]
    return responses


@pytest.mark.parametrize("path", [*PUBLIC_PATHS, "/api/v1/docs/assets/{filename}"])
def test_what_needs_no_token_lists_no_401(path):
    assert set(_spec_with(path)) == {"200"}


def test_a_path_naming_a_resource_lists_401_and_404():
    responses = _spec_with("/api/v1/things/{thing_id}")
    assert list(responses) == ["200", "401", "404"]
    assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
