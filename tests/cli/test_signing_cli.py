"""The supplier's signing commands, driven through click: keygen, sign, verify, submit."""

from __future__ import annotations

import json
import re
import socket
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from cli.main import main
from tiertrace import signing

# Deliberately not compact and ending in a newline: the signature must cover these bytes, not a re-dump.
PAYLOAD = (
    b'{\n  "id": "1d6f8a4e-0b7c-4c2d-9e3f-5a6b7c8d9e0f",\n  "issuer": "acme",\n'
    b'  "part": {"number": "TRM-2040", "name": "GaN T/R module", "unit": "piece"},\n'
    b'  "materials": [{"material": "Ga", "mass_g": 0.84}],\n'
    b'  "components": [{"part_number": "MMIC-7", "supplier": null, "quantity": 4}]\n}\n'
)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def signer(runner, tmp_path):
    """A key made by `tiertrace keygen`, with the public key and keyid it printed."""
    key_file = tmp_path / "acme.pem"
    result = runner.invoke(main, ["keygen", "--out", str(key_file)])
    assert result.exit_code == 0, result.output
    public_key = re.search(r"^public_key: (\S+)$", result.stdout, re.M).group(1)
    keyid = re.search(r"^keyid: +(\S+)$", result.stdout, re.M).group(1)
    return key_file, public_key, keyid


@pytest.fixture
def envelope_file(runner, signer, tmp_path):
    key_file, _, _ = signer
    payload_file = tmp_path / "payload.json"
    payload_file.write_bytes(PAYLOAD)
    out = tmp_path / "envelope.json"
    result = runner.invoke(main, ["sign", str(payload_file), "--key", str(key_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


class FakePortal:
    """A tiny HTTP server on 127.0.0.1 that records each request and answers what the test set."""

    def __init__(self):
        self.requests = []
        self.status = 201
        self.body = b'{"id": "1d6f8a4e-0b7c-4c2d-9e3f-5a6b7c8d9e0f"}'
        self.headers = {}
        self.url = ""


@pytest.fixture
def portal(monkeypatch):
    # A proxy configured on the machine must not take the calls meant for the local server.
    monkeypatch.setenv("no_proxy", "*")
    state = FakePortal()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(
                {"method": self.command, "path": self.path, "headers": self.headers, "body": body}
            )
            self.send_response(state.status)
            for name, value in {"Content-Type": "application/json", **state.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        do_GET = do_POST  # recorded too: a followed redirect would show up as a GET

        def log_message(self, format, *args):  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


# --- keygen --------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_can_read_and_prints_its_public_key(signer):
    key_file, public_key, keyid = signer
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    raw = signing.public_key_raw(signing.read_private_key(key_file))
    assert public_key == signing.encode_b64(raw)
    assert keyid == signing.keyid_for(raw)


def test_keygen_explains_how_to_register_the_public_key(runner, tmp_path):
    result = runner.invoke(main, ["keygen", "--out", str(tmp_path / "k.pem")])
    assert "/api/v1/keys" in result.stdout
    assert '{"public_key": "' in result.stdout
    assert "never leaves" in result.stdout


def test_keygen_refuses_to_overwrite_an_existing_file(runner, tmp_path):
    key_file = tmp_path / "acme.pem"
    key_file.write_bytes(b"a key already in use")
    result = runner.invoke(main, ["keygen", "--out", str(key_file)])
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert key_file.read_bytes() == b"a key already in use"


# --- sign and verify -----------------------------------------------------------------------------------


def test_keygen_sign_verify_round_trip(runner, signer, envelope_file):
    _, public_key, keyid = signer
    result = runner.invoke(main, ["verify", str(envelope_file), "--public-key", public_key])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"OK: signed by {keyid}"
    assert "TRM-2040 (GaN T/R module)" in result.stdout
    assert "1d6f8a4e-0b7c-4c2d-9e3f-5a6b7c8d9e0f" in result.stdout
    assert "MMIC-7" in result.stdout


def test_sign_covers_the_file_bytes_exactly_and_prints_the_envelope(runner, signer, tmp_path):
    key_file, public_key, _ = signer
    payload_file = tmp_path / "payload.json"
    payload_file.write_bytes(PAYLOAD)
    result = runner.invoke(main, ["sign", str(payload_file), "--key", str(key_file)])
    assert result.exit_code == 0, result.output
    envelope = result.stdout_bytes
    assert envelope.endswith(b"}\n")
    expected = signing.sign_payload(PAYLOAD, signing.read_private_key(key_file))
    assert envelope == expected + b"\n"
    assert signing.verify_envelope(envelope, signing.decode_b64(public_key)) == PAYLOAD


def test_sign_to_a_file_writes_what_it_would_print(runner, signer, tmp_path, envelope_file):
    key_file, _, _ = signer
    printed = runner.invoke(main, ["sign", str(tmp_path / "payload.json"), "--key", str(key_file)])
    assert envelope_file.read_bytes() == printed.stdout_bytes


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"[1, 2]", "JSON array, not an object"),
        (b'"a string"', "JSON string, not an object"),
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"id": 1, "id": 2}', "appears twice"),
        (b'{"mass_g": NaN}', "NaN is not a JSON value"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b'{"statement": "\xe9"}', "not UTF-8"),
    ],
)
def test_sign_refuses_a_file_that_is_not_one_json_object(runner, signer, tmp_path, content, complaint):
    key_file, _, _ = signer
    payload_file = tmp_path / "payload.json"
    payload_file.write_bytes(content)
    result = runner.invoke(main, ["sign", str(payload_file), "--key", str(key_file)])
    assert result.exit_code == 1
    assert complaint in result.stderr
    assert result.stdout == ""


def test_sign_with_a_file_that_is_not_a_key_says_what_it_expected(runner, tmp_path):
    payload_file = tmp_path / "payload.json"
    payload_file.write_bytes(PAYLOAD)
    result = runner.invoke(main, ["sign", str(payload_file), "--key", str(payload_file)])
    assert result.exit_code == 1
    assert "Ed25519 private key" in result.stderr


def test_verify_with_another_public_key_fails_with_a_message(runner, envelope_file):
    other = signing.encode_b64(signing.public_key_raw(signing.generate_private_key()))
    result = runner.invoke(main, ["verify", str(envelope_file), "--public-key", other])
    assert result.exit_code == 1
    assert "verification FAILED" in result.stderr
    assert "OK" not in result.stdout


def test_verify_of_a_changed_payload_fails(runner, signer, envelope_file):
    _, public_key, _ = signer
    document = json.loads(envelope_file.read_bytes())
    document["payload"] = signing.encode_b64(PAYLOAD.replace(b"0.84", b"0.04"))
    envelope_file.write_text(json.dumps(document))
    result = runner.invoke(main, ["verify", str(envelope_file), "--public-key", public_key])
    assert result.exit_code == 1
    assert "does not verify" in result.stderr


def test_verify_of_a_file_that_is_no_envelope_fails(runner, signer, tmp_path):
    _, public_key, _ = signer
    not_envelope = tmp_path / "payload.json"
    not_envelope.write_bytes(PAYLOAD)
    result = runner.invoke(main, ["verify", str(not_envelope), "--public-key", public_key])
    assert result.exit_code == 1
    assert "not a DSSE envelope" in result.stderr


def test_verify_accepts_a_valid_signature_over_a_payload_that_is_no_object_but_says_so(
    runner, signer, tmp_path
):
    key_file, public_key, keyid = signer
    envelope_file = tmp_path / "envelope.json"
    envelope_file.write_bytes(signing.sign_payload(b"\x00 not json", signing.read_private_key(key_file)))
    result = runner.invoke(main, ["verify", str(envelope_file), "--public-key", public_key])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"OK: signed by {keyid}",
        "payload: 10 bytes, not a JSON object (the portal will refuse it)",
    ]


def test_verify_summary_does_not_pass_control_characters_to_the_terminal(runner, signer, tmp_path):
    key_file, public_key, _ = signer
    payload = json.dumps({"id": "x", "issuer": "acme\x1b[2J\x07", "part": {"number": "P-1"}}).encode()
    envelope_file = tmp_path / "envelope.json"
    envelope_file.write_bytes(signing.sign_payload(payload, signing.read_private_key(key_file)))
    result = runner.invoke(main, ["verify", str(envelope_file), "--public-key", public_key])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "acme?[2J?" in result.stdout


@pytest.mark.parametrize("bad_key", ["not base64!", signing.encode_b64(bytes(31)), "ed25519:abcd"])
def test_verify_with_a_public_key_that_is_not_one_says_what_to_pass(runner, envelope_file, bad_key):
    result = runner.invoke(main, ["verify", str(envelope_file), "--public-key", bad_key])
    assert result.exit_code == 1
    assert "--public-key" in result.stderr
    assert "tiertrace keygen" in result.stderr


# --- submit --------------------------------------------------------------------------------------------


def test_submit_posts_the_file_bytes_as_they_are_with_the_bearer_token(runner, portal, envelope_file):
    envelope_file.write_bytes(envelope_file.read_bytes() + b"  \n")  # odd trailing bytes are sent as they are
    # A portal mounted under a path, given with a trailing slash: exactly one "/" before "api".
    result = runner.invoke(
        main, ["submit", str(envelope_file), "--url", portal.url + "/tiertrace/", "--token", "tok_1-A"]
    )
    assert result.exit_code == 0, result.output
    [request] = portal.requests
    assert request["method"] == "POST"
    assert request["path"] == "/tiertrace/api/v1/declarations"
    assert request["body"] == envelope_file.read_bytes()
    assert request["headers"]["Authorization"] == "Bearer tok_1-A"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(result.stdout) == {"id": "1d6f8a4e-0b7c-4c2d-9e3f-5a6b7c8d9e0f"}


def test_submit_takes_the_token_from_the_environment_and_a_url_without_slash(runner, portal, envelope_file):
    portal.status = 200
    result = runner.invoke(
        main, ["submit", str(envelope_file), "--url", portal.url], env={"TIERTRACE_TOKEN": "from-env"}
    )
    assert result.exit_code == 0, result.output
    assert portal.requests[0]["path"] == "/api/v1/declarations"
    assert portal.requests[0]["headers"]["Authorization"] == "Bearer from-env"
    assert "already had exactly this envelope" in result.stderr


def test_submit_prints_the_portals_error_message_and_fails(runner, portal, envelope_file):
    portal.status = 422
    portal.body = json.dumps(
        {
            "error": {
                "code": "signature",
                "message": "the signature does not verify with key ed25519:ab",
                "details": {"keyid": "ed25519:ab"},
            }
        }
    ).encode()
    result = runner.invoke(main, ["submit", str(envelope_file), "--url", portal.url, "--token", "t"])
    assert result.exit_code == 1
    assert "422 signature" in result.stderr
    assert "the signature does not verify with key ed25519:ab" in result.stderr
    assert '"keyid": "ed25519:ab"' in result.stderr
    assert result.stdout == ""


def test_submit_reports_an_error_body_that_is_not_json(runner, portal, envelope_file):
    portal.status = 502
    portal.body = b"<html>Bad Gateway</html>"
    result = runner.invoke(main, ["submit", str(envelope_file), "--url", portal.url, "--token", "t"])
    assert result.exit_code == 1
    assert "502" in result.stderr
    assert "Bad Gateway" in result.stderr


@pytest.mark.parametrize("path", ["/api/v1", "/api/v1/", "/api/v1/declarations"])
def test_submit_refuses_a_url_with_the_api_path_and_sends_nothing(runner, portal, envelope_file, path):
    result = runner.invoke(main, ["submit", str(envelope_file), "--url", portal.url + path, "--token", "t"])
    assert result.exit_code == 2
    assert "--url is the portal's base address (e.g. https://portal.example.org), not an API path" in (
        " ".join(result.stderr.split())
    )
    assert portal.requests == []


def test_submit_to_an_address_that_is_no_portal_says_what_url_is(runner, portal, envelope_file):
    portal.status = 404
    portal.headers = {"Content-Type": "text/html"}
    portal.body = b"<!doctype html><title>404 Not Found</title><h1>Not Found</h1>"
    result = runner.invoke(main, ["submit", str(envelope_file), "--url", portal.url + "/v1", "--token", "t"])
    assert result.exit_code == 1
    assert (
        f"no tiertrace API at {portal.url}/v1 (404 Not Found, and not in the API's JSON): --url is the "
        "portal's base address (e.g. https://portal.example.org), not an API path." in result.stderr
    )
    assert "<h1>" not in result.stderr


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_submit_does_not_follow_a_redirect_with_the_token(runner, portal, envelope_file, status):
    portal.status = status
    portal.headers = {"Location": portal.url + "/elsewhere"}
    result = runner.invoke(main, ["submit", str(envelope_file), "--url", portal.url, "--token", "t"])
    assert result.exit_code == 1
    assert "does not follow redirects" in result.stderr
    assert len(portal.requests) == 1


def test_submit_to_a_closed_port_says_the_connection_was_refused(runner, envelope_file, monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now (it was only bound, never listened on, and is closed).
    result = runner.invoke(
        main, ["submit", str(envelope_file), "--url", f"http://127.0.0.1:{port}", "--token", "t"]
    )
    assert result.exit_code == 1
    assert "connection refused" in result.stderr


@pytest.mark.parametrize("url", ["127.0.0.1:5000", "file:///etc/passwd", "ftp://portal"])
def test_submit_refuses_a_url_that_is_not_http(runner, envelope_file, url):
    result = runner.invoke(main, ["submit", str(envelope_file), "--url", url, "--token", "t"])
    assert result.exit_code == 2
    assert "--url" in result.stderr


def test_submit_refuses_a_token_that_would_break_the_header(runner, envelope_file):
    result = runner.invoke(
        main, ["submit", str(envelope_file), "--url", "http://127.0.0.1:9", "--token", "t\r\nX-Evil: 1"]
    )
    assert result.exit_code == 2
    assert "--token" in result.stderr


# --- help ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["keygen", "sign", "verify", "submit"])
def test_every_signing_command_explains_itself_with_an_example(runner, command):
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert f"tiertrace {command} " in result.stdout


# --- register-key --------------------------------------------------------------------------------------


def test_register_key_sends_only_the_public_key_and_prints_its_keyid(runner, portal, signer):
    key_file, public_key, keyid = signer
    portal.body = json.dumps({"keyid": keyid}).encode()
    result = runner.invoke(
        main, ["register-key", str(key_file), "--url", portal.url + "/"], env={"TIERTRACE_TOKEN": "tok"}
    )
    assert result.exit_code == 0, result.output
    [request] = portal.requests
    assert (request["method"], request["path"]) == ("POST", "/api/v1/keys")
    assert json.loads(request["body"]) == {"public_key": public_key}
    assert request["headers"]["Authorization"] == "Bearer tok"
    assert f"Registered {keyid}" in result.stdout


def test_register_key_says_when_the_portal_had_the_key_already(runner, portal, signer):
    key_file, _, keyid = signer
    portal.status = 200
    result = runner.invoke(main, ["register-key", str(key_file), "--url", portal.url, "--token", "t"])
    assert result.exit_code == 0, result.output
    assert f"{keyid} was registered for your organisation already" in result.stdout


def test_register_key_prints_the_portals_refusal_and_fails(runner, portal, signer):
    key_file, _, _ = signer
    portal.status = 401
    portal.body = (
        b'{"error": {"code": "unauthenticated", "message": "the bearer token is unknown", "details": {}}}'
    )
    result = runner.invoke(main, ["register-key", str(key_file), "--url", portal.url, "--token", "t"])
    assert result.exit_code == 1
    assert "refused the key (401 unauthenticated)" in result.stderr
    assert "Check --token" in result.stderr


def test_register_key_refuses_a_file_that_is_not_a_private_key_and_sends_nothing(runner, portal, tmp_path):
    not_a_key = tmp_path / "envelope.json"
    not_a_key.write_text('{"payloadType": "x"}')
    result = runner.invoke(main, ["register-key", str(not_a_key), "--url", portal.url, "--token", "t"])
    assert result.exit_code == 1
    assert "not a PEM private key" in result.stderr and "tiertrace keygen" in result.stderr
    assert portal.requests == []
