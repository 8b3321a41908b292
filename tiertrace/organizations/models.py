"""Organisations, their API tokens, signing keys and people's accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tiertrace.db import Base, utcnow

ORGANIZATION_KINDS = ("company", "authority", "operator")


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(16))
    #: Where notifications are POSTed, signed with `webhook_secret` (HMAC-SHA256); None: no webhook.
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Organization {self.slug}>"


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once, when created."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class SigningKey(Base):
    """An Ed25519 public key registered to an organisation; keyid = "ed25519:" + hex(sha256(raw key))."""

    __tablename__ = "signing_keys"

    keyid: Mapped[str] = mapped_column(String(80), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class User(Base):
    """A person who logs in to the web portal on behalf of one organisation."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_organization_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: argon2id hash; None until the invitation is accepted.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: SHA-256 of the one-time invitation token; cleared once used.
    invite_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Part of every web session of the account (`credential_version`); logging out raises it, which ends
    #: the account's sessions on every device.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The newest notification of the organisation this person has seen (`mark_notifications_seen`):
    #: those created after it are new to them. Per person, not per organisation, so that one colleague's
    #: look does not hide from another what they have not seen. None: never looked, everything is new.
    notifications_seen_at: Mapped[datetime | None]


class LoginFailure(Base):
    """A failed login, kept for `FAILURE_WINDOW`. It counts toward the limit of its client address and,
    with a user, toward the limits of that account (`authenticate_user`). Without one: the email named
    no account, the attempt was refused unchecked, the account's failures were cleared, or it was
    recorded before migration 0007."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_address_failed_at", "address", "failed_at"),
        Index("ix_login_failures_user_id_failed_at", "user_id", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
