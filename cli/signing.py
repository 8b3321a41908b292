"""The supplier's signing tools: `keygen`, `register-key`, `sign`, `verify` (offline) and `submit`.

Thin wrappers over `tiertrace.signing`: read files, call the core, say what went wrong and what to do.
`register-key` and `submit` use only the standard library, so a supplier needs nothing but this package
to file a declaration.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from cli.console import printable
from cli.main import main
from tiertrace import __version__, signing
from tiertrace.errors import MalformedInputError, RuleViolationError

# Tokens are [A-Za-z0-9_-] today; this only keeps out what would break or forge an HTTP header.
_TOKEN = re.compile(r"[\x21-\x7e]+")
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _fail(message: str) -> NoReturn:
    """Stop with exit status 1 and `message` on stderr (as "Error: message")."""
    raise click.ClickException(message)


@main.command()
@click.option(
    "--out",
    "out",
    required=True,
    metavar="KEYFILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new private key (PEM, mode 0600). Must not exist yet.",
)
def keygen(out: Path) -> None:
    """Create a new Ed25519 key pair for signing your organisation's declarations.

    Writes the private key to KEYFILE, readable only by you, and prints the public key (base64 of the raw
    32 bytes) and its keyid. The private key never leaves your organisation: keep it on the machine that
    signs, back it up, and never send it to the portal. Register the PUBLIC key with the portal
    (`tiertrace register-key KEYFILE`, or POST /api/v1/keys with {"public_key": "<base64>"}) before
    you submit anything signed with it. An existing KEYFILE is never overwritten.

    \b
    Example:
      tiertrace keygen --out acme-signing.pem
    """
    private_key = signing.generate_private_key()
    try:
        signing.write_private_key(out, private_key)
    except FileExistsError:
        _fail(
            f"{out} already exists; keygen never overwrites a key (it may be registered and in use). "
            "Choose another --out path, or move the old file away first."
        )
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}. Choose a --out path in a folder you can write to.")
    raw = signing.public_key_raw(private_key)
    public_key = signing.encode_b64(raw)
    body = json.dumps({"public_key": public_key})
    click.echo(
        f"Wrote the private key to {out} (mode 0600). Keep it secret and backed up: it never leaves your\n"
        "organisation, and the portal never needs it.\n"
        "\n"
        f"public_key: {public_key}\n"
        f"keyid:      {signing.keyid_for(raw)}\n"
        "\n"
        "Register the public key with the portal before you submit anything signed with it:\n"
        f"  tiertrace register-key {out} --url PORTAL_URL        (token in TIERTRACE_TOKEN)\n"
        "or with any HTTP client (POST /api/v1/keys):\n"
        '  curl -X POST "$PORTAL_URL/api/v1/keys" -H "Authorization: Bearer $TIERTRACE_TOKEN" \\\n'
        f"       -H 'Content-Type: application/json' -d '{body}'\n"
        f"Then sign a declaration with: tiertrace sign PAYLOAD.json --key {out}"
    )


@main.command()
@click.argument("payload_file", metavar="PAYLOAD.json", type=_FILE)
@click.option(
    "--key",
    "key_file",
    required=True,
    metavar="KEYFILE",
    type=_FILE,
    help="Your private key, as written by `tiertrace keygen`.",
)
@click.option(
    "--out",
    "out",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the envelope to FILE instead of printing it.",
)
def sign(payload_file: Path, key_file: Path, out: Path | None) -> None:
    """Sign a declaration payload and print the DSSE envelope.

    PAYLOAD.json must hold one JSON object, the declaration payload v1 (id, issuer, issued_at, part,
    materials, components, statement, ...). Its bytes are signed exactly as they are in the file: nothing
    is re-formatted, so what you see in the file is what the portal and every reader will get. The portal
    checks the payload's content when you submit the envelope with `tiertrace submit`.

    \b
    Example:
      tiertrace sign trm-2040.json --key acme-signing.pem --out trm-2040.envelope.json
      tiertrace sign trm-2040.json --key acme-signing.pem > trm-2040.envelope.json
    """
    payload = _read_bytes(payload_file)
    _require_json_object(payload, payload_file)
    try:
        private_key = signing.read_private_key(key_file)
    except MalformedInputError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"cannot read the key {key_file}: {exc.strerror or exc}")
    envelope = signing.sign_payload(payload, private_key)
    if out is None:
        # bytes go to the binary stream untouched; echo adds the newline, so `> FILE` equals `--out FILE`.
        click.echo(envelope)
        return
    try:
        out.write_bytes(envelope + b"\n")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    keyid = signing.keyid_for(signing.public_key_raw(private_key))
    click.echo(f"Signed {payload_file} with {keyid}; wrote the envelope to {out}.")
    click.echo(f"Submit it with: TIERTRACE_TOKEN=... tiertrace submit {out} --url PORTAL_URL")


@main.command()
@click.argument("envelope_file", metavar="ENVELOPE.json", type=_FILE)
@click.option(
    "--public-key",
    "public_key_b64",
    required=True,
    metavar="B64",
    help="The signer's public key: base64 of the raw 32 bytes, as `tiertrace keygen` printed it.",
)
def verify(envelope_file: Path, public_key_b64: str) -> None:
    """Check offline that a DSSE envelope was signed by a given public key.

    Needs no portal and no network. Prints "OK: signed by <keyid>" and a summary of the declaration, and
    exits 0; otherwise says why on stderr and exits 1. The envelope names the key it was signed with;
    it must be this one.

    \b
    Example:
      tiertrace verify trm-2040.envelope.json --public-key 'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg='
    """
    try:
        public_key_raw = signing.decode_b64(public_key_b64.strip())
        keyid = signing.keyid_for(public_key_raw)
    except MalformedInputError as exc:
        _fail(
            f"--public-key: {exc.message}. Pass the public_key value `tiertrace keygen` printed "
            "(base64 of the raw 32-byte key), not a keyid or a PEM file."
        )
    envelope = _read_bytes(envelope_file)
    try:
        payload = signing.verify_envelope(envelope, public_key_raw)
    except MalformedInputError as exc:
        _fail(f"verification FAILED: {envelope_file} is not a DSSE envelope: {exc.message}")
    except RuleViolationError as exc:
        if exc.code == "payload_type":
            _fail(f"verification FAILED: {envelope_file} is not a tiertrace declaration: {exc.message}")
        _fail(
            f"verification FAILED: {exc.message}. Check that --public-key is the signer's key and that the "
            "envelope was not changed after signing."
        )
    click.echo(f"OK: signed by {keyid}")
    for line in _summary_lines(payload):
        click.echo(line)


def _portal_options(command: Any) -> Any:
    """--url, --token and --timeout: how `register-key` and `submit` reach a portal."""
    for option in reversed(
        (
            click.option(
                "--url",
                required=True,
                metavar="URL",
                envvar="TIERTRACE_URL",
                show_envvar=True,
                help="The portal's base address, e.g. https://portal.example.org (with or without a "
                "trailing /).",
            ),
            click.option(
                "--token",
                required=True,
                metavar="TOKEN",
                envvar="TIERTRACE_TOKEN",
                show_envvar=True,
                help="Your organisation's API token. Prefer the variable: a command line is visible to other "
                "users.",
            ),
            click.option(
                "--timeout",
                default=30.0,
                show_default=True,
                metavar="SECONDS",
                help="How long to wait for the portal.",
            ),
        )
    ):
        command = option(command)
    return command


@main.command("register-key")
@click.argument("key_file", metavar="KEYFILE", type=_FILE)
@_portal_options
def register_key(key_file: Path, url: str, token: str, timeout: float) -> None:
    """Register the public half of KEYFILE with a portal (POST /api/v1/keys).

    Reads the private key `tiertrace keygen` wrote and sends only its public key; the private key never
    leaves this machine. Prints the keyid and exits 0 when the portal registered the key (201) or had it
    already for your organisation (200); otherwise prints the portal's error on stderr and exits 1.

    \b
    Example:
      export TIERTRACE_TOKEN=...            # the token the operator gave your organisation
      tiertrace register-key acme-signing.pem --url https://portal.example.org
    """
    try:
        raw = signing.public_key_raw(signing.read_private_key(key_file))
    except MalformedInputError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"cannot read {key_file}: {exc.strerror or exc}")
    body = json.dumps({"public_key": signing.encode_b64(raw)}).encode()
    status, _ = _post(url, "/api/v1/keys", token, body, timeout, what="the key")
    keyid = signing.keyid_for(raw)
    if status == 200:
        click.echo(f"{keyid} was registered for your organisation already; nothing changed.")
    else:
        click.echo(f"Registered {keyid}. Declarations signed with {key_file} can be submitted now.")


@main.command()
@click.argument("envelope_file", metavar="ENVELOPE.json", type=_FILE)
@_portal_options
def submit(envelope_file: Path, url: str, token: str, timeout: float) -> None:
    """Send a signed envelope to a portal (POST /api/v1/declarations).

    The file's bytes are sent exactly as they are. Prints the portal's JSON answer and exits 0 when the
    declaration is accepted (201), or was already there with these exact bytes (200); otherwise prints the
    portal's error on stderr and exits 1.

    \b
    Example:
      export TIERTRACE_TOKEN=...            # the token the operator gave your organisation
      tiertrace submit trm-2040.envelope.json --url https://portal.example.org
    """
    status, answer = _post(
        url, "/api/v1/declarations", token, _read_bytes(envelope_file), timeout, what="the envelope"
    )
    click.echo(_pretty(answer))
    if status == 200:
        click.echo("The portal already had exactly this envelope; nothing changed.", err=True)


def _post(url: str, path: str, token: str, body: bytes, timeout: float, *, what: str) -> tuple[int, bytes]:
    """POST `body` (JSON) to the portal at `url` + `path`; returns (200 or 201, answer), else fails."""
    endpoint = _base_url(url) + path
    if not _TOKEN.fullmatch(token):
        raise click.BadParameter("the token must be one word of printable ASCII", param_hint="--token")
    request = urllib.request.Request(
        endpoint,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"tiertrace/{__version__}",
        },
    )
    # No redirects: urllib would replay the Authorization header to wherever the redirect points, and turn
    # the POST into a body-less GET on 301/302/303.
    opener = urllib.request.build_opener(_RefuseRedirects)
    try:
        with opener.open(request, timeout=timeout) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            _fail(_http_error_message(exc, url, what))
    except urllib.error.URLError as exc:
        _fail(_connection_error_message(exc.reason, url))
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        _fail(_connection_error_message(exc, url))
    if status not in (200, 201):
        _fail(f"the portal answered {status}, not 201 or 200; nothing is known to be stored: {_text(answer)}")
    return status, answer


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None  # urllib then raises HTTPError with the 3xx status, handled like any refusal


#: What --url is, for the messages that say it.
_BASE_URL_HINT = "--url is the portal's base address (e.g. https://portal.example.org), not an API path"


def _base_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{url!r} is not an http(s) address; give the portal's base URL, e.g. https://portal.example.org",
            param_hint="--url",
        )
    if "/api/v1" in parts.path:
        raise click.BadParameter(f"{url!r} holds /api/v1: {_BASE_URL_HINT}", param_hint="--url")
    return url.strip().rstrip("/")


def _http_error_message(exc: urllib.error.HTTPError, url: str, what: str) -> str:
    status = exc.code
    if 300 <= status < 400:
        location = exc.headers.get("Location", "another address")
        return (
            f"the portal answered {status}, redirecting to {location}; tiertrace does not follow redirects "
            "(your token would go along). Use the final address as --url (often https:// instead of http://)."
        )
    raw = exc.read()
    error = _error_object(raw)
    if error is None and status == 404:
        # The API answers every error in JSON: a page that is not is some other server's, or another path.
        return f"no tiertrace API at {url} (404 Not Found, and not in the API's JSON): {_BASE_URL_HINT}."
    if error is None:
        return f"the portal refused {what} ({status} {exc.reason}): {_text(raw)}"
    code = error.get("code", "error")
    lines = [f"the portal refused {what} ({status} {code}): {error.get('message', '')}"]
    details = error.get("details")
    if details:
        lines.append("details: " + json.dumps(details, ensure_ascii=False, sort_keys=True))
    hint = {
        401: "Check --token (or TIERTRACE_TOKEN): it must be your organisation's current API token.",
        403: "The envelope's issuer must be the organisation the token belongs to.",
        413: "The envelope is over the portal's size limit (1 MiB).",
    }.get(status)
    if hint:
        lines.append(hint)
    return "\n".join(lines)


def _connection_error_message(reason: object, url: str) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return (
            f"could not connect to {url}: connection refused. Is the portal running there "
            "(`tiertrace serve`)? Check --url, host and port."
        )
    if isinstance(reason, socket.gaierror):
        return f"could not find the host of {url} ({reason.strerror}). Check --url."
    if isinstance(reason, TimeoutError):
        return f"the portal at {url} did not answer in time. Try again, or raise --timeout."
    return f"could not talk to the portal at {url}: {reason}"


def _error_object(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else None


def _pretty(raw: bytes) -> str:
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return _text(raw)


def _text(raw: bytes, limit: int = 500) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")


def _require_json_object(payload: bytes, path: Path) -> None:
    """Refuse to sign anything but one JSON object; what is signed stays the file's own bytes."""
    if payload.startswith(b"\xef\xbb\xbf"):
        _fail(f"{path} starts with a UTF-8 byte-order mark; save it as UTF-8 without BOM and sign again.")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and sign again.")
    try:
        document = json.loads(
            text, object_pairs_hook=signing.reject_duplicate_keys, parse_constant=_no_constant
        )
    except ValueError as exc:
        _fail(f"{path} is not valid JSON: {exc}. Fix it and sign again.")
    if not isinstance(document, dict):
        _fail(
            f"{path} holds a JSON {_json_kind(document)}, not an object; a declaration payload is one JSON "
            'object such as {"id": "...", "issuer": "...", "part": {...}, ...}.'
        )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (use a number, or null)")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return "literal"
    return "number"


def _summary_lines(payload: bytes) -> list[str]:
    try:
        document = json.loads(payload)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return [f"payload: {len(payload)} bytes, not a JSON object (the portal will refuse it)"]
    part, materials, components = document.get("part"), document.get("materials"), document.get("components")
    part = part if isinstance(part, dict) else {}
    materials = materials if isinstance(materials, list) else []
    components = components if isinstance(components, list) else []
    rows = [
        ("id", document.get("id")),
        ("issuer", document.get("issuer")),
        ("issued_at", document.get("issued_at")),
        ("part", _part(part)),
        ("program", document.get("program")),
        ("in_response_to", document.get("in_response_to")),
        ("supersedes", document.get("supersedes")),
        ("materials", _counted(materials, "material")),
        ("components", _counted(components, "part_number")),
    ]
    return [f"{name + ':':<16}{printable(value)}" for name, value in rows if value not in (None, "")]


def _part(part: dict[str, Any]) -> str | None:
    number, name = part.get("number"), part.get("name")
    if number is None:
        return None
    return printable(number) + (f" ({printable(name)})" if name is not None else "")


def _counted(items: list[Any], field: str) -> str:
    names = [
        printable(item[field]) for item in items if isinstance(item, dict) and item.get(field) is not None
    ]
    return f"{len(items)}" + (f" ({', '.join(names)})" if names else "")
