"""Accepting and reading signed declarations."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from marshmallow import ValidationError
from sqlalchemy import Connection, Row, Table, and_, bindparam, insert, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemas.declaration import DeclarationPayloadSchema, parse_issued_at
from tiertrace import signing
from tiertrace.db import canonical_id, chunks, utcnow
from tiertrace.declarations.models import Declaration, DeclarationComponent
from tiertrace.declarations.rules import (
    disclosure_choice,
    mass_total_problems,
    object_rows,
    reference_problems,
)
from tiertrace.disclosure.models import DisclosureRequest
from tiertrace.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RuleViolationError,
    TiertraceError,
)
from tiertrace.organizations.models import Organization, SigningKey
from tiertrace.outbox.services import record_event
from tiertrace.text import unstorable_text_paths

#: Schemas are stateless once built, and building one per request is a large part of its cost.
_PAYLOAD_SCHEMA = DeclarationPayloadSchema()

#: Envelopes larger than this are refused before they are parsed.
MAX_ENVELOPE_BYTES = 1024 * 1024


class EnvelopeTooLargeError(TiertraceError):
    code = "too_large"


@dataclass(frozen=True)
class _Checked:
    """A payload that passed every rule, with what the checks looked up."""

    payload: dict[str, Any]
    supplier_ids: dict[str, int]
    #: Id of the issuer's current declaration of the part, which this one supersedes.
    previous_id: str | None


@dataclass(frozen=True)
class SubmitResult:
    """What a submission stored (or had stored, for the same envelope again)."""

    id: str
    part_number: str
    supersedes_id: str | None
    accepted_at: datetime
    #: False when the same envelope bytes had been accepted before (the first answer is repeated).
    created: bool


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, str]:
    """Marshmallow's nested error messages as {"materials.0.mass_g": "..."}."""
    if isinstance(messages, dict):
        flat: dict[str, str] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "payload"
            flat.update(flatten_messages(value, path))
        return flat
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "payload": "; ".join(messages)}
    return {prefix or "payload": str(messages)}


# Submitting is the portal's hot path (issue 2 asks for 1,000 a second from one process): it runs a
# handful of Core statements on the session's connection instead of loading ORM objects, each built once
# here with bound parameters, so a request neither constructs nor hashes a statement.
_DECLARATIONS = cast(Table, Declaration.__table__)
_COMPONENTS = cast(Table, DeclarationComponent.__table__)
_REQUESTS = cast(Table, DisclosureRequest.__table__)
_KEYS = cast(Table, SigningKey.__table__)
_ORGANIZATIONS = cast(Table, Organization.__table__)

# The key's organisation is locked (FOR NO KEY UPDATE, as `lock_organizations` does) until the
# transaction ends: an issuer's submissions run one after the other, so the checks below read what the
# one before committed, and concurrent submissions of the same envelope, or of two versions of one part,
# answer as they would one after the other (200, 409, 422), not with a unique violation.
_KEY_AND_ISSUER = (
    select(_KEYS.c.public_key, _KEYS.c.revoked_at, _ORGANIZATIONS.c.id, _ORGANIZATIONS.c.slug)
    .join(_ORGANIZATIONS, _ORGANIZATIONS.c.id == _KEYS.c.organization_id)
    .where(_KEYS.c.keyid == bindparam("keyid"))
    .with_for_update(of=_ORGANIZATIONS, key_share=True)
)
_EXISTING = select(
    _DECLARATIONS.c.id,
    _DECLARATIONS.c.part_number,
    _DECLARATIONS.c.supersedes_id,
    _DECLARATIONS.c.accepted_at,
    _DECLARATIONS.c.envelope_sha256,
).where(_DECLARATIONS.c.id == bindparam("id"))
_SUPPLIER_IDS = select(_ORGANIZATIONS.c.slug, _ORGANIZATIONS.c.id, _ORGANIZATIONS.c.kind).where(
    _ORGANIZATIONS.c.slug.in_(bindparam("slugs", expanding=True))
)
_REQUEST_ADDRESSEE = select(_REQUESTS.c.supplier_id, _REQUESTS.c.part_number).where(
    _REQUESTS.c.id == bindparam("id")
)
_CURRENT = select(_DECLARATIONS.c.id).where(
    _DECLARATIONS.c.issuer_id == bindparam("issuer_id"),
    _DECLARATIONS.c.part_number == bindparam("part_number"),
    _DECLARATIONS.c.is_current,
)
#: `_EXISTING` and `_CURRENT` in one round trip, for a submission (the same columns from both halves; the
#: caller tells the rows apart by their values). Both read after the key lookup has locked the issuer, so
#: they see what the issuer's previous submission committed.
_EXISTING_AND_CURRENT = union_all(
    _EXISTING.add_columns(_DECLARATIONS.c.issuer_id, _DECLARATIONS.c.is_current),
    select(*_EXISTING.selected_columns, _DECLARATIONS.c.issuer_id, _DECLARATIONS.c.is_current).where(
        _DECLARATIONS.c.issuer_id == bindparam("issuer_id"),
        _DECLARATIONS.c.part_number == bindparam("part_number"),
        _DECLARATIONS.c.is_current,
    ),
)
_ENVELOPE = select(_DECLARATIONS.c.envelope).where(_DECLARATIONS.c.id == bindparam("id"))
_ISSUER_AND_PART = select(_DECLARATIONS.c.issuer_id, _DECLARATIONS.c.part_number).where(
    _DECLARATIONS.c.id == bindparam("id")
)
_RETIRE = (
    update(_DECLARATIONS)
    .where(_DECLARATIONS.c.id == bindparam("old"))
    .values(is_current=False, superseded_by_id=bindparam("new"))
)
_INSERT_DECLARATION = insert(_DECLARATIONS)
_INSERT_COMPONENTS = insert(_COMPONENTS)
_REPOINT = (
    update(_REQUESTS)
    .where(_REQUESTS.c.declaration_id == bindparam("old"))
    .values(declaration_id=bindparam("new"))
)
# `status IN ("open", "overdue")` would be an expanding parameter, which SQLAlchemy renders into the SQL
# again on every execution (a third of this statement's cost); two comparisons are compiled once.
_WAITING = and_(
    _REQUESTS.c.supplier_id == bindparam("issuer"),
    _REQUESTS.c.part_number == bindparam("part"),
    or_(_REQUESTS.c.status == "open", _REQUESTS.c.status == "overdue"),
)
_ANSWER = update(_REQUESTS).values(
    status="answered", declaration_id=bindparam("new"), answered_at=bindparam("now")
)
#: Every request still waiting for the part from the issuer; or those and the one named in_response_to.
_ANSWER_WAITING = _ANSWER.where(_WAITING)
_ANSWER_WAITING_AND_NAMED = _ANSWER.where(or_(_WAITING, _REQUESTS.c.id == bindparam("named")))


def submit_declaration(
    session: Session, organization: Organization, envelope: bytes, *, now: datetime | None = None
) -> SubmitResult:
    """Verify and store a DSSE envelope filed by `organization`, in DESIGN.md's order of checks.

    Nothing is stored unless every check passes. On success it inserts the declaration and its
    components, marks the requests it answers, supersedes the previous version and records a
    "declaration.accepted" outbox event, in the session's transaction (the caller commits). Raises
    EnvelopeTooLargeError (413), MalformedInputError (400), RuleViolationError (422: payload type,
    signature, key, payload rules), ForbiddenError (403: issuer is not the caller), ConflictError (409:
    same id with other bytes, version conflict).
    """
    now = now or utcnow()
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeTooLargeError(f"the envelope is larger than {MAX_ENVELOPE_BYTES} bytes")
    parsed = signing.parse_envelope(envelope)
    if parsed.payload_type != signing.PAYLOAD_TYPE:
        raise RuleViolationError(
            f"payloadType must be {signing.PAYLOAD_TYPE!r}",
            code="payload_type",
            details={"payloadType": parsed.payload_type},
        )
    session.flush()  # the caller's pending changes go first: what follows bypasses the unit of work
    connection = session.connection()
    # A keyid no database can hold names no registered key (and PostgreSQL could not even look it up).
    key = (
        None
        if unstorable_text_paths(parsed.keyid)
        else connection.execute(_KEY_AND_ISSUER, {"keyid": parsed.keyid}).one_or_none()
    )
    if key is not None and key.revoked_at is not None and key.id == organization.id:
        # Only the caller's own keys say so: another organisation's keys and their history stay unseen.
        raise RuleViolationError(
            f"key {parsed.keyid} was revoked on {key.revoked_at:%Y-%m-%d}; sign with a current key",
            code="signature",
            details={"keyid": parsed.keyid, "problem": "revoked", "revoked_on": f"{key.revoked_at:%Y-%m-%d}"},
        )
    if key is None or key.revoked_at is not None:
        raise RuleViolationError(
            "the envelope is signed with a key that is unknown or revoked; register the key first",
            code="signature",
            details={"keyid": parsed.keyid, "problem": "unknown_key"},
        )
    signing.verify_signature(parsed, key.public_key)

    raw_payload = _decode_payload(parsed.payload)
    issuer_slug = raw_payload.get("issuer")
    if issuer_slug != key.slug:
        raise RuleViolationError(
            "the signing key is not registered to the payload's issuer",
            code="signature",
            details={"keyid": parsed.keyid, "issuer": issuer_slug, "problem": "not_issuers_key"},
        )
    if key.id != organization.id:
        raise ForbiddenError("the declaration's issuer is not the authenticated organisation")

    declaration_id = raw_payload.get("id")
    existing, current = _existing_and_current(connection, organization.id, raw_payload)
    if existing is not None:
        if existing.envelope_sha256 == hashlib.sha256(envelope).hexdigest():
            return SubmitResult(
                existing.id, existing.part_number, existing.supersedes_id, existing.accepted_at, False
            )
        stored = signing.parse_envelope(connection.execute(_ENVELOPE, {"id": existing.id}).scalar_one())
        if stored == parsed:
            # Say so: "other contents" would send the supplier looking for a change it never made.
            raise ConflictError(
                "a declaration with this id was accepted from other envelope bytes: the same payload "
                "and signature, encoded differently (JSON spacing, base64 alphabet or padding). It is "
                "stored; the same id counts as the same submission only with the bytes first sent",
                details={"id": declaration_id, "same_payload_and_signature": True},
            )
        raise ConflictError(
            "a declaration with this id exists with other contents; ids are unique forever",
            details={"id": declaration_id},
        )

    checked = check_payload(connection, organization.id, raw_payload, current=current)
    result = _store(connection, organization.id, parsed.keyid, envelope, raw_payload, checked, now)
    record_event(
        session, "declaration.accepted", {"declaration_id": result.id, "supersedes_id": result.supersedes_id}
    )
    # ORM objects the caller loaded before may hold columns changed above: reload those on next use.
    for loaded in list(session.identity_map.values()):
        if isinstance(loaded, Declaration):
            session.expire(loaded, ["is_current", "superseded_by_id"])
        elif isinstance(loaded, DisclosureRequest):
            session.expire(loaded, ["status", "declaration_id", "answered_at"])
    return result


def _existing_and_current(
    connection: Connection, issuer_id: int, raw: dict[str, Any]
) -> tuple[Row[Any] | None, tuple[str, str | None] | None]:
    """The declaration stored under the payload's id, if any; and (part number, id of the issuer's current
    declaration of it or None) for the payload's part number. One statement for both.

    An id or a part number that is no text a database can hold looks nothing up (None): the payload rules
    refuse it later, as they refuse any other value that is not text.
    """
    declaration_id = raw.get("id")
    part = raw.get("part")
    part_number = part.get("number") if isinstance(part, dict) else None
    wanted_id = (
        canonical_id(declaration_id)
        if isinstance(declaration_id, str) and not unstorable_text_paths(declaration_id)
        else None
    )
    if not isinstance(part_number, str) or unstorable_text_paths(part_number):
        part_number = None
    if wanted_id is None and part_number is None:
        return None, None
    # A None parameter matches no row (`= NULL`), which leaves that half of the statement empty.
    rows = connection.execute(
        _EXISTING_AND_CURRENT, {"id": wanted_id, "issuer_id": issuer_id, "part_number": part_number}
    ).all()
    existing = next((row for row in rows if wanted_id is not None and row.id == wanted_id), None)
    if part_number is None:
        return existing, None
    current = next(
        (
            row.id
            for row in rows
            if row.is_current and row.issuer_id == issuer_id and row.part_number == part_number
        ),
        None,
    )
    return existing, (part_number, current)


def _decode_payload(payload: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(payload.decode("utf-8"), object_pairs_hook=signing.reject_duplicate_keys)
    except signing.DuplicateKeyError as exc:
        raise RuleViolationError(
            f"the payload names the key {exc.key!r} twice in one object, and JSON readers disagree on which "
            "value counts; sign a payload that names each key once",
            code="payload_invalid",
            details={"key": exc.key},
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise RuleViolationError("the payload is not UTF-8 JSON", code="payload_invalid") from exc
    except RecursionError as exc:
        raise RuleViolationError("the payload is nested too deeply", code="payload_invalid") from exc
    if not isinstance(decoded, dict):
        raise RuleViolationError("the payload must be a JSON object", code="payload_invalid")
    return decoded


def check_payload(
    connection: Connection,
    issuer_id: int,
    raw: dict[str, Any],
    *,
    current: tuple[str, str | None] | None = None,
) -> _Checked:
    """The payload rules of filing (schema, codes, material totals, suppliers, `in_response_to`, versions)
    for `issuer_id`.

    `current`, when the caller has looked it up in this transaction already: (part number, id of the
    issuer's current declaration of that part or None); it is used only for that part number.

    Raises RuleViolationError or ConflictError as `submit_declaration` would; the web editor runs it
    before offering a payload to sign. Every field error comes in one answer: the reference codes and the
    suppliers are checked on the payload as sent, also when the schema refuses some of it (the schema's
    message wins for a field both refuse).
    """
    try:
        payload: dict[str, Any] = _PAYLOAD_SCHEMA.load(raw)
        problems: dict[str, str] = {}
    except ValidationError as exc:
        problems = flatten_messages(exc.messages)
    unstorable = unstorable_text_paths(raw)
    components = object_rows(raw.get("components"))
    slugs = {
        c["supplier"]
        for _, c in components
        if isinstance(c.get("supplier"), str) and not unstorable_text_paths(c["supplier"])
    }
    known: dict[str, int] = {}
    kinds: dict[str, str] = {}
    if slugs:
        for slug, org_id, kind in connection.execute(_SUPPLIER_IDS, {"slugs": sorted(slugs)}):
            kinds[slug] = kind
            if kind == "company":
                known[slug] = org_id
    found = reference_problems(raw) | mass_total_problems(raw)
    for i, component in components:
        supplier = component.get("supplier")
        if isinstance(supplier, str) and supplier in kinds and supplier not in known:
            # The authority and the operator make no parts: a request to them could never be answered.
            found[f"components.{i}.supplier"] = (
                f"{supplier!r} is the portal's {kinds[supplier]}, not a company; a component's supplier "
                "must be a registered company"
            )
        elif isinstance(supplier, str) and supplier not in known:
            found[f"components.{i}.supplier"] = (
                f"{supplier!r} is not a registered organisation; use null and "
                "supplier_name/supplier_country for a supplier that is not on the portal yet"
            )
    for path in unstorable:
        found[path] = "text may not hold NUL (\\u0000) or an unpaired surrogate (\\ud800-\\udfff)"
    for key, message in found.items():
        problems.setdefault(key, message)
    if problems:
        raise RuleViolationError(
            "the payload breaks the declaration rules", code="payload_invalid", details=problems
        )

    part_number = payload["part"]["number"]
    if payload["in_response_to"] is not None:
        request = connection.execute(_REQUEST_ADDRESSEE, {"id": payload["in_response_to"]}).one_or_none()
        if request is None or request.supplier_id != issuer_id or request.part_number != part_number:
            raise RuleViolationError(
                "in_response_to must name a request addressed to the issuer for the same part number",
                code="payload_invalid",
                details={"in_response_to": payload["in_response_to"]},
            )

    if current is not None and current[0] == part_number:
        current_id = current[1]
    else:
        current_id = connection.scalar(_CURRENT, {"issuer_id": issuer_id, "part_number": part_number})
    supersedes = payload["supersedes"]
    if supersedes is None and current_id is not None:
        raise ConflictError(
            f"part {part_number!r} already has a current declaration; name it in 'supersedes'",
            details={"current": current_id},
        )
    if supersedes is not None and (current_id is None or current_id != canonical_id(supersedes)):
        named = connection.execute(_ISSUER_AND_PART, {"id": canonical_id(supersedes)}).one_or_none()
        if current_id is not None and named is not None and tuple(named) == (issuer_id, part_number):
            # An older version of this part: someone superseded it first (a race, or a stale copy).
            raise ConflictError(
                f"declaration {canonical_id(supersedes)} is no longer current: {current_id} superseded it; "
                "name the current version in 'supersedes'",
                details={"supersedes": supersedes, "current": current_id},
            )
        raise RuleViolationError(
            "supersedes may only name the issuer's own current declaration of the same part",
            code="payload_invalid",
            details={"supersedes": supersedes},
        )
    return _Checked(payload, known, current_id)


def _store(
    connection: Connection,
    issuer_id: int,
    keyid: str,
    envelope: bytes,
    raw: dict[str, Any],
    checked: _Checked,
    now: datetime,
) -> SubmitResult:
    payload = checked.payload
    declaration_id = str(payload["id"])
    part_number = payload["part"]["number"]
    previous_id = checked.previous_id
    if previous_id is not None:
        # The partial unique index allows one current version per part: retire the old one first.
        connection.execute(_RETIRE, {"old": previous_id, "new": declaration_id})
    try:
        connection.execute(
            _INSERT_DECLARATION,
            {
                "id": declaration_id,
                "issuer_id": issuer_id,
                "keyid": keyid,
                "part_number": part_number,
                "part_name": payload["part"]["name"],
                "program": payload["program"],
                "in_response_to": payload["in_response_to"],
                "supersedes_id": previous_id,
                "is_current": True,
                "envelope": envelope,
                "envelope_sha256": hashlib.sha256(envelope).hexdigest(),
                "payload": raw,
                "issued_at": parse_issued_at(payload["issued_at"]),
                "accepted_at": now,
            },
        )
    except IntegrityError as exc:
        # Only another issuer's declaration with this id, committed since the id was checked, gets here:
        # this issuer's own submissions are serialised by the lock the key query takes.
        raise ConflictError(
            "a declaration with this id exists with other contents; ids are unique forever",
            details={"id": declaration_id},
        ) from exc
    if payload["components"]:
        connection.execute(
            _INSERT_COMPONENTS,
            [
                {
                    "declaration_id": declaration_id,
                    "position": position,
                    "part_number": component["part_number"],
                    "supplier_id": checked.supplier_ids.get(component["supplier"]),
                    "quantity": component["quantity"],
                    "request_disclosure": component["request_disclosure"],
                    "disclose_to": disclosure_choice(component),
                }
                for position, component in enumerate(payload["components"])
            ],
        )
    if previous_id is not None:
        # The new version answers every request the old one answered.
        connection.execute(_REPOINT, {"old": previous_id, "new": declaration_id})
    # One answer serves every customer: the request named in in_response_to and every other request
    # still waiting for this part from this supplier are answered by the new declaration.
    answer = {"issuer": issuer_id, "part": part_number, "new": declaration_id, "now": now}
    if payload["in_response_to"] is None:
        connection.execute(_ANSWER_WAITING, answer)
    else:
        connection.execute(_ANSWER_WAITING_AND_NAMED, {**answer, "named": payload["in_response_to"]})
    return SubmitResult(declaration_id, part_number, previous_id, now, True)


def version_ids(session: Session, declaration: Declaration) -> list[str]:
    """Ids of every version of the declaration's part line (older and newer), oldest first."""
    ids = [declaration.id]
    older = declaration.supersedes_id
    while older is not None:
        ids.insert(0, older)
        older = session.scalar(select(Declaration.supersedes_id).where(Declaration.id == older))
    newer = declaration.superseded_by_id
    while newer is not None:
        ids.append(newer)
        newer = session.scalar(select(Declaration.superseded_by_id).where(Declaration.id == newer))
    return ids


def customer_ids(session: Session, declaration: Declaration) -> set[int]:
    """Organisations whose requests the declaration answers or was linked to, or answered through a
    version it supersedes (DESIGN.md): customers carry forward to newer versions, never back.

    Answered requests follow the newest version, so those of an older version are the ones answered
    (or linked) before its successor was accepted.
    """
    query = select(DisclosureRequest.requester_id).where(
        DisclosureRequest.declaration_id.in_(version_ids(session, declaration))
    )
    if declaration.superseded_by_id is not None:
        successor = session.get_one(Declaration, declaration.superseded_by_id)
        query = query.where(DisclosureRequest.answered_at < successor.accepted_at)
    return set(session.scalars(query))


def can_read(session: Session, viewer: Organization, declaration: Declaration) -> bool:
    """Whether `viewer` may read `declaration`: its issuer, its customers and the authority."""
    if viewer.kind == "authority" or viewer.id == declaration.issuer_id:
        return True
    if viewer.kind != "company":
        return False
    return viewer.id in customer_ids(session, declaration)


def readable_ids(session: Session, viewer: Organization, declaration_ids: Iterable[str]) -> set[str]:
    """Those of `declaration_ids` that `viewer` may read (`can_read` for many at once, for a page of links).

    Requests follow the current version when a declaration is superseded, so for current declarations two
    queries decide; an older version among the ids is checked on its own.
    """
    ids = set(declaration_ids)
    if viewer.kind == "authority":
        return set(session.scalars(select(Declaration.id).where(Declaration.id.in_(ids)))) if ids else set()
    if viewer.kind != "company" or not ids:
        return set()
    readable: set[str] = set()
    current: set[str] = set()
    for chunk in chunks(ids):
        for declaration_id, issuer_id, is_current in session.execute(
            select(Declaration.id, Declaration.issuer_id, Declaration.is_current).where(
                Declaration.id.in_(chunk)
            )
        ):
            if issuer_id == viewer.id:
                readable.add(declaration_id)
            elif is_current:
                current.add(declaration_id)
            elif can_read(session, viewer, session.get_one(Declaration, declaration_id)):
                readable.add(declaration_id)
        readable.update(
            session.scalars(
                select(DisclosureRequest.declaration_id).where(
                    DisclosureRequest.requester_id == viewer.id,
                    DisclosureRequest.declaration_id.in_([i for i in chunk if i in current]),
                )
            )
        )
    return readable


def require_readable_declaration(session: Session, viewer: Organization, declaration_id: str) -> Declaration:
    """The declaration if `viewer` may read it. Raises NotFoundError otherwise (no existence leak)."""
    declaration = session.get(Declaration, canonical_id(declaration_id)) if declaration_id else None
    if declaration is None or not can_read(session, viewer, declaration):
        raise NotFoundError("no such declaration")
    return declaration


@dataclass(frozen=True)
class DeclarationReading:
    """A declaration as one viewer may read it."""

    declaration: Declaration
    #: The decoded payload, with the suppliers the viewer may not learn blanked out.
    payload: dict[str, Any]
    #: False when the payload had to be redacted: the signed envelope would reveal what was blanked.
    envelope_shown: bool


def read_declaration(session: Session, viewer: Organization, declaration_id: str) -> DeclarationReading:
    """The declaration as `viewer` may read it. Raises NotFoundError like require_readable_declaration.

    The issuer and the authority read everything. A customer reads the payload, except the identity of
    a component supplier the issuer disclosed to the authority only (DESIGN's "disclose_supplier_to"):
    its supplier fields and its part number are blanked, the component marked `undisclosed`, and the
    envelope withheld, since the signed bytes cannot be redacted.
    """
    declaration = require_readable_declaration(session, viewer, declaration_id)
    if viewer.kind == "authority" or viewer.id == declaration.issuer_id:
        return DeclarationReading(declaration, declaration.payload, envelope_shown=True)
    payload = json.loads(json.dumps(declaration.payload))
    redacted = False
    for component in payload.get("components", []):
        hidden = disclosure_choice(component) == "authority" and component.get("supplier") != viewer.slug
        if hidden and (component.get("supplier") or component.get("supplier_name")):
            # The part number goes too: a supplier's part numbers identify it (as in the chain view).
            component.update(
                part_number=None, supplier=None, supplier_name=None, supplier_country=None, undisclosed=True
            )
            redacted = True
    return DeclarationReading(declaration, payload, envelope_shown=not redacted)
