"""The bus envelope (schemas/bus.py): what the relay may publish and what a consumer accepts."""

from __future__ import annotations

import json
import uuid

import pytest

from schemas.bus import ValidationError, dump_message, load_message, routing_key

MESSAGE_ID = str(uuid.uuid4())
DECLARATION_ID = str(uuid.uuid4())


def envelope(**overrides):
    document = {
        "message_id": MESSAGE_ID,
        "type": "declaration.accepted",
        "version": 1,
        "payload": {"declaration_id": DECLARATION_ID, "supersedes_id": None},
    }
    document.update(overrides)
    return json.dumps(document).encode()


def test_a_message_survives_the_wire_unchanged():
    body = dump_message(
        MESSAGE_ID, "declaration.accepted", 1, {"declaration_id": DECLARATION_ID, "supersedes_id": None}
    )
    assert load_message(body) == json.loads(envelope())
    assert routing_key("declaration.accepted", 1) == "declaration.accepted.v1"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        envelope(version="1"),  # a string is a producer bug, not something to coerce
        envelope(version=2),  # no schema for that version
        envelope(type="declaration.exploded"),
        envelope(message_id="42"),
        envelope(payload={"declaration_id": DECLARATION_ID}),  # a required id missing
        envelope(payload={"declaration_id": "D-1", "supersedes_id": None}),  # not a UUID
        envelope(payload={"declaration_id": DECLARATION_ID, "supersedes_id": None, "issuer": {"slug": "x"}}),
        envelope(extra="field"),
    ],
)
def test_anything_else_is_refused(body):
    with pytest.raises(ValidationError):
        load_message(body)


def test_the_validating_encoder_refuses_an_invalid_message():
    with pytest.raises(ValidationError):
        dump_message(MESSAGE_ID, "request.created", 1, {"request": "whole object"})


def test_the_bus_schemas_import_nothing_of_the_application():
    import ast
    from pathlib import Path

    import schemas.bus

    tree = ast.parse(Path(schemas.bus.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not imported & {"tiertrace", "flask", "pika", "sqlalchemy", "portal", "worker", "cli"}
