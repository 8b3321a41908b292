"""Disclosure requests (one organisation asks a supplier about a part) and notifications."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tiertrace.db import Base, new_id, utcnow
from tiertrace.organizations.models import Organization

REQUEST_STATUSES = ("open", "answered", "declined", "overdue")


class DisclosureRequest(Base):
    __tablename__ = "disclosure_requests"
    __table_args__ = (
        # The lists of `list_requests` (migration 0004), read in the order of an index instead of sorting
        # all the viewer's requests for every page, and a later page from where its cursor is: each box by
        # status in the due-date order, and each box newest first (every status, or one status as a
        # filter on that scan). The first two serve filters by (supplier_id, status) and
        # (requester_id, status) too.
        Index(
            "ix_disclosure_requests_supplier_status_due",
            "supplier_id",
            "status",
            "due_date",
            "created_at",
            "id",
        ),
        Index(
            "ix_disclosure_requests_requester_status_due",
            "requester_id",
            "status",
            "due_date",
            "created_at",
            "id",
        ),
        Index("ix_disclosure_requests_supplier_created", "supplier_id", "created_at", "id"),
        Index("ix_disclosure_requests_requester_created", "requester_id", "created_at", "id"),
        Index("ix_disclosure_requests_lookup", "requester_id", "supplier_id", "part_number"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    requester_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    part_number: Mapped[str] = mapped_column(String(100))
    program: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: Every request has one (migration 0006): the requester's choice, or `default_due_days` from the day
    #: it is made; a forwarded one its parent's less `tier_margin_days` (propagation.child_due_date).
    due_date: Mapped[date]
    message: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("disclosure_requests.id"), index=True)
    #: The declaration that answers the request (the current version once superseded).
    declaration_id: Mapped[str | None] = mapped_column(ForeignKey("declarations.id"), index=True)
    #: The declaration whose component caused this request (None for a request made by hand).
    source_declaration_id: Mapped[str | None] = mapped_column(ForeignKey("declarations.id"), index=True)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]

    requester: Mapped[Organization] = relationship(foreign_keys=[requester_id], lazy="joined")
    supplier: Mapped[Organization] = relationship(foreign_keys=[supplier_id], lazy="joined")


class Notification(Base):
    """Something an organisation should learn of (a new incoming request, a reminder, an escalation)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_organization_created", "organization_id", "created_at"),
        # One notification per request, organisation and kind (migration 0008): each kind is sent once
        # per request, "request.created" to the supplier when the request is made, "reminder" to it and
        # "escalation" to the requester once each (the request's reminded_at and escalated_at are never
        # cleared). Inserts skip one that exists (`tiertrace.disclosure.notifications`). Led by
        # request_id, it is also the index of that foreign key. Notifications about no request are not
        # limited (NULLs are distinct).
        Index(
            "uq_notifications_request_organization_kind",
            "request_id",
            "organization_id",
            "kind",
            unique=True,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(ForeignKey("disclosure_requests.id"))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Webhook delivery: when it succeeded, how often it was tried, when to try next.
    delivered_at: Mapped[datetime | None]
    delivery_attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
