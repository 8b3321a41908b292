"""A client that sends its body slowly holds up no one else: the portal reads a body before anything of
the request takes the database (on SQLite a transaction holds the database's one lock of the process,
tiertrace/db.py), so every other call goes on while an upload is paused halfway.

Against the real portal on 127.0.0.1 (werkzeug's threaded server reads a body from the socket as the
application asks for it, as gunicorn's gthread workers do), with raw sockets to pause mid-body.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from werkzeug.serving import make_server

from tiertrace import signing

#: How long another call may take while an upload is paused: it needs milliseconds; on the old code it
#: waited for the upload to end.
OTHER_CALL_SECONDS = 2.0


@pytest.fixture
def portal(app: Any) -> Iterator[int]:
    """The portal on 127.0.0.1, a free port, threaded; yields the port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slow-upload-portal", daemon=True
    )
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def _request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the answer on `sock` (the server closes the connection after it)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _status_before_the_body_ends(sock: socket.socket, failure: str) -> int:
    """The status of the answer on `sock`, which must come while the client has more of its body to send."""
    received = b""
    try:
        while b"\r\n" not in received and (chunk := sock.recv(4096)):
            received += chunk
    except TimeoutError:
        pytest.fail(failure)
    return int(received.split(b" ", 2)[1])


@contextmanager
def paused_upload(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes, *, chunked: bool = False
) -> Iterator[dict[str, Any]]:
    """Send the head and the first half of `body`, and pause; on leaving, send the rest. The answer's status
    and body end up in the yielded dict under "status" and "body"."""
    half = len(body) // 2
    head = (
        {**headers, "Transfer-Encoding": "chunked"}
        if chunked
        else {**headers, "Content-Length": str(len(body))}
    )
    answer: dict[str, Any] = {}
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_request_head(method, path, head) + (_chunk(body[:half]) if chunked else body[:half]))
        yield answer
        sock.sendall(_chunk(body[half:]) + b"0\r\n\r\n" if chunked else body[half:])
        # werkzeug's server drains a body its application left unread until the client stops sending.
        sock.shutdown(socket.SHUT_WR)
        answer["status"], answer["body"] = _read_answer(sock)


def send(port: int, method: str, path: str, headers: dict[str, str], body: bytes, *, chunked: bool) -> Any:
    """The status and decoded JSON answer of a call sent whole (chunked or with Content-Length)."""
    with paused_upload(port, method, path, headers, body, chunked=chunked) as answer:
        pass
    return answer["status"], json.loads(answer["body"])


def assert_other_calls_go_on(port: int, token: str) -> None:
    """Another organisation's API call answers at once (the upload is paused meanwhile)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=OTHER_CALL_SECONDS)
    try:
        connection.request("GET", "/api/v1/organizations/me", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
    except TimeoutError:
        pytest.fail(f"GET /api/v1/organizations/me waited over {OTHER_CALL_SECONDS} s for a paused upload")
    finally:
        connection.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_paused_declaration_upload_holds_up_no_other_call(portal, make_org, make_payload, sign, chunked):
    supplier, other = make_org("lumen"), make_org("other")
    # Padded with spaces (JSON allows them) to a size a slow link takes a while to send.
    envelope = sign(supplier, make_payload("lumen")) + b" " * 600_000
    headers = {"Authorization": f"Bearer {supplier.token}", "Content-Type": "application/json"}
    with paused_upload(portal, "POST", "/api/v1/declarations", headers, envelope, chunked=chunked) as answer:
        assert_other_calls_go_on(portal, other.token)
    assert answer["status"] == 201, answer["body"]
    assert_other_calls_go_on(portal, other.token)


def test_a_paused_json_body_holds_up_no_other_call(portal, make_org):
    member, other = make_org("lumen"), make_org("other")
    public_key = signing.encode_b64(signing.public_key_raw(signing.generate_private_key()))
    body = json.dumps({"public_key": public_key}).encode() + b" " * 100_000
    headers = {"Authorization": f"Bearer {member.token}", "Content-Type": "application/json"}
    with paused_upload(portal, "POST", "/api/v1/keys", headers, body) as answer:
        assert_other_calls_go_on(portal, other.token)
    assert answer["status"] == 201, answer["body"]


def test_a_paused_upload_without_a_valid_token_is_still_401(portal, make_org):
    other = make_org("other")
    headers = {"Authorization": "Bearer tt_not-a-token", "Content-Type": "application/json"}
    with paused_upload(portal, "POST", "/api/v1/declarations", headers, b"{" + b" " * 100_000) as answer:
        assert_other_calls_go_on(portal, other.token)
    assert answer["status"] == 401, answer["body"]
    assert json.loads(answer["body"])["error"]["code"] == "unauthenticated"


def test_a_paused_web_form_holds_up_no_other_call(portal, make_org):
    other = make_org("other")
    page = http.client.HTTPConnection("127.0.0.1", portal, timeout=10)
    page.request("GET", "/login")
    response = page.getresponse()
    cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.read().decode())
    page.close()
    assert cookie and match is not None
    form = f"csrf_token={match.group(1)}&email=nobody%40example.org&password=wrong&next=".encode()
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    with paused_upload(portal, "POST", "/login", headers, form + b"x" * 100_000) as answer:
        assert_other_calls_go_on(portal, other.token)
    assert answer["status"] == 401, answer["body"][:300]


# The statuses keep their order with the body read first: 401 whatever the body, 413 before parsing (also
# without Content-Length), 403 for a caller of the wrong kind before the size of a chunked body.
OVER_4_MIB = b"{" + b" " * (4 * 1024 * 1024 + 10)
OVER_1_MIB = b"{" + b" " * (1024 * 1024 + 10)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/api/v1/keys", "/api/v1/declarations"])
def test_a_body_over_the_limits_with_an_invalid_token_is_401(portal, path, chunked):
    headers = {"Authorization": "Bearer tt_not-a-token", "Content-Type": "application/json"}
    status, answer = send(portal, "POST", path, headers, OVER_4_MIB, chunked=chunked)
    assert (status, answer["error"]["code"]) == (401, "unauthenticated")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/keys", OVER_4_MIB),
        ("/api/v1/declarations", OVER_1_MIB),
        ("/api/v1/declarations", OVER_4_MIB),
    ],
    ids=["json-over-4-mib", "declaration-over-1-mib", "declaration-over-4-mib"],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_with_a_valid_token_is_413(portal, make_org, path, body, chunked):
    member = make_org("lumen")
    headers = {"Authorization": f"Bearer {member.token}", "Content-Type": "application/json"}
    status, answer = send(portal, "POST", path, headers, body, chunked=chunked)
    assert (status, answer["error"]["code"]) == (413, "too_large")


def test_a_chunked_declaration_over_1_mib_from_an_authority_is_403(portal, make_org):
    authority = make_org("ministry", kind="authority")
    headers = {"Authorization": f"Bearer {authority.token}", "Content-Type": "application/json"}
    status, answer = send(portal, "POST", "/api/v1/declarations", headers, OVER_1_MIB, chunked=True)
    assert (status, answer["error"]["code"]) == (403, "forbidden")


def test_a_chunked_declaration_is_refused_once_a_byte_past_1_mib_has_arrived(portal, make_org):
    supplier = make_org("lumen")
    headers = {
        "Authorization": f"Bearer {supplier.token}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    with socket.create_connection(("127.0.0.1", portal), timeout=OTHER_CALL_SECONDS) as sock:
        # No last chunk: for all the portal knows, more is coming. It answers without waiting for it.
        sock.sendall(_request_head("POST", "/api/v1/declarations", headers) + _chunk(OVER_1_MIB))
        status = _status_before_the_body_ends(sock, "the portal waited for more than 1 MiB of a declaration")
    assert status == 413


def test_a_call_without_a_token_is_401_before_its_body_arrives(portal):
    body = b"{" + b" " * 100_000
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    with socket.create_connection(("127.0.0.1", portal), timeout=OTHER_CALL_SECONDS) as sock:
        sock.sendall(_request_head("POST", "/api/v1/declarations", headers) + body[:1000])
        status = _status_before_the_body_ends(
            sock, "the portal waited for the body of a call without a token"
        )
    assert status == 401
