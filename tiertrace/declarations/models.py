"""Signed declarations: the envelope bytes exactly as received, and what was decoded from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tiertrace.db import Base, utcnow


class Declaration(Base):
    __tablename__ = "declarations"
    __table_args__ = (
        # At most one current declaration per (issuer, part number). Query current versions with a bare
        # `Declaration.is_current` (SQLAlchemy writes "is_current = 1" on SQLite, which uses a partial
        # index only when the query repeats its WHERE term; `.is_(True)` gives "IS 1"/"IS true" and
        # neither database uses the index then).
        Index(
            "uq_declarations_current_part",
            "issuer_id",
            "part_number",
            unique=True,
            sqlite_where=text("is_current = 1"),
            postgresql_where=text("is_current"),
        ),
    )

    #: The payload's own id (a UUID chosen by the issuer, unique forever).
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    keyid: Mapped[str] = mapped_column(ForeignKey("signing_keys.keyid"))
    part_number: Mapped[str] = mapped_column(String(100))
    part_name: Mapped[str] = mapped_column(String(300), default="")
    program: Mapped[str | None] = mapped_column(String(100), index=True)
    # use_alter: requests and declarations point at each other; this key is added after both tables.
    in_response_to: Mapped[str | None] = mapped_column(ForeignKey("disclosure_requests.id", use_alter=True))
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("declarations.id"), unique=True)
    superseded_by_id: Mapped[str | None] = mapped_column(String(36))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The DSSE envelope exactly as received: the signature covers these bytes, so they are kept verbatim.
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    envelope_sha256: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime]
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeclarationComponent(Base):
    """One component line of a declaration, indexed so a supplier's part finds every parent using it."""

    __tablename__ = "declaration_components"
    __table_args__ = (Index("ix_declaration_components_supplier_part", "supplier_id", "part_number"),)

    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    part_number: Mapped[str] = mapped_column(String(100))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    quantity: Mapped[float] = mapped_column(Float)
    request_disclosure: Mapped[bool] = mapped_column(Boolean)
    #: "authority", "requester" or "chain": who beyond the defaults may learn the supplier's identity.
    disclose_to: Mapped[str] = mapped_column(String(16))
