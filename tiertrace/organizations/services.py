"""Organisations, bearer tokens and signing keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, Integer, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tiertrace import reference, signing
from tiertrace.db import utcnow
from tiertrace.errors import AuthenticationError, ConflictError, NotFoundError, RuleViolationError
from tiertrace.organizations.models import ORGANIZATION_KINDS, ApiToken, Organization, SigningKey

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def hash_token(token: str) -> str:
    """SHA-256 of a bearer token. Tokens are 256-bit random, so a fast hash is the right one here."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_organization(
    session: Session, *, slug: str, name: str, country: str, kind: str
) -> tuple[Organization, str]:
    """Register an organisation and return it with its first API token (shown once, never stored).

    Flushes. Raises RuleViolationError for a bad slug, country or kind, ConflictError for a taken slug.
    """
    problems = {}
    if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
        problems["slug"] = "lowercase letters, digits and hyphens, 1-64 characters, no hyphen at either end"
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems["name"] = "a non-empty name of at most 200 characters"
    if not isinstance(country, str) or not reference.is_country(country):
        problems["country"] = "an ISO 3166-1 alpha-2 country code, e.g. NL"
    if kind not in ORGANIZATION_KINDS:
        problems["kind"] = f"one of {', '.join(ORGANIZATION_KINDS)}"
    if problems:
        raise RuleViolationError("the organisation is not valid", details=problems)
    organization = Organization(slug=slug, name=name.strip(), country=country, kind=kind)
    try:
        # In a savepoint: a taken slug (also one registered by a concurrent request, which the insert
        # waits for) leaves the caller's transaction usable.
        with session.begin_nested():
            session.add(organization)
    except IntegrityError as exc:
        raise ConflictError(
            f"an organisation with slug {slug!r} exists already", details={"slug": slug}
        ) from exc
    token = create_token(session, organization, label="first token")
    return organization, token


def create_token(session: Session, organization: Organization, *, label: str = "") -> str:
    """Create a new API token for `organization`; returns the token, of which only a hash is kept."""
    token = "tt_" + secrets.token_urlsafe(32)
    session.add(ApiToken(organization_id=organization.id, token_hash=hash_token(token), label=label))
    session.flush()
    return token


def revoke_token(
    session: Session, organization: Organization, token_id: int, *, now: datetime | None = None
) -> None:
    """Revoke one of the organisation's tokens. Raises NotFoundError for another organisation's token."""
    token = session.get(ApiToken, token_id)
    if token is None or token.organization_id != organization.id:
        raise NotFoundError("no such token")
    if token.revoked_at is None:
        token.revoked_at = now or utcnow()


#: Every API call runs this: built once, with a bound parameter, it is neither rebuilt nor re-hashed.
_ORGANIZATION_BY_TOKEN = (
    select(Organization)
    .join(ApiToken, ApiToken.organization_id == Organization.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)


def authenticate_token(session: Session, token: str | None) -> Organization:
    """The organisation a bearer token belongs to. Raises AuthenticationError for a missing/unknown token."""
    if not token:
        raise AuthenticationError("a bearer token is required: send 'Authorization: Bearer <token>'")
    row = session.execute(_ORGANIZATION_BY_TOKEN, {"token_hash": hash_token(token)}).scalar_one_or_none()
    if row is None:
        raise AuthenticationError("the bearer token is unknown or revoked")
    return row


def get_organization(session: Session, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def require_organization(session: Session, slug: str) -> Organization:
    """The organisation with `slug`. Raises NotFoundError."""
    organization = get_organization(session, slug)
    if organization is None:
        raise NotFoundError(f"no organisation {slug!r}")
    return organization


def register_key(
    session: Session, organization: Organization, public_key_b64: str
) -> tuple[SigningKey, bool]:
    """Register a raw Ed25519 public key (base64) for `organization`; returns (key, created).

    Registering a key the organisation already has returns it with created=False. Raises
    RuleViolationError for a key that is not 32 bytes of base64 or is of small order (anyone could
    sign for it), ConflictError when another organisation registered the same key.
    """
    try:
        raw = signing.decode_b64(public_key_b64)
    except Exception as exc:  # MalformedInputError, or a non-string
        raise RuleViolationError(
            "public_key must be the base64 of a raw 32-byte Ed25519 key", details={"public_key": "not base64"}
        ) from exc
    if len(raw) != 32:
        raise RuleViolationError(
            "public_key must be the base64 of a raw 32-byte Ed25519 key",
            details={"public_key": f"{len(raw)} bytes, expected 32"},
        )
    if signing.is_small_order(raw):
        raise RuleViolationError(
            "this public key is a point of small order, under which anyone can make a valid signature; "
            "generate a real key pair with `tiertrace keygen`",
            details={"public_key": "small order"},
        )
    keyid = signing.keyid_for(raw)
    existing = session.get(SigningKey, keyid)
    if existing is None:
        key = SigningKey(keyid=keyid, organization_id=organization.id, public_key=raw)
        try:
            # In a savepoint: when a concurrent request registered the key first (the insert waits for
            # it to commit), this one answers as if it had come second.
            with session.begin_nested():
                session.add(key)
            return key, True
        except IntegrityError:
            existing = session.get_one(SigningKey, keyid)
    if existing.organization_id != organization.id:
        raise ConflictError("this key is registered to another organisation", details={"keyid": keyid})
    if existing.revoked_at is not None:
        raise ConflictError("this key was revoked and cannot be registered again", details={"keyid": keyid})
    return existing, False


#: FOR NO KEY UPDATE, not FOR UPDATE: the latter would also block every insert of a row that references
#: the organisation (foreign keys take KEY SHARE). In one statement, in the order of the ORDER BY, so two
#: transactions locking overlapping sets (A lists B, B lists A) take them in the same order. The ids go
#: as one array parameter: an expanding IN list made SQLAlchemy render the statement anew on every call.
_LOCK_ORGANIZATIONS = (
    select(Organization.id)
    .where(Organization.id == any_(bindparam("ids", type_=postgresql.ARRAY(Integer))))
    .order_by(Organization.id)
    .with_for_update(key_share=True)
)


def lock_organizations(executor: Session | Connection, organization_ids: Iterable[int]) -> None:
    """Hold the organisations' rows until the transaction ends, so that their check-then-write services
    (requests, declarations, propagation) run one after the other across processes.

    PostgreSQL only: SQLite has no row locks, and every transaction there takes the database's one write
    lock when it begins (BEGIN IMMEDIATE, tiertrace.db), which serialises those services already.
    """
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    if bind.dialect.name == "postgresql":
        executor.execute(_LOCK_ORGANIZATIONS, {"ids": sorted(set(organization_ids))})


def revoke_key(
    session: Session, organization: Organization, keyid: str, *, now: datetime | None = None
) -> None:
    """Revoke one of the organisation's keys; declarations it signed stay valid, new ones are refused.

    Raises NotFoundError when the key is not the caller's.
    """
    key = session.get(SigningKey, keyid)
    if key is None or key.organization_id != organization.id:
        raise NotFoundError(f"no key {keyid!r}")
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
