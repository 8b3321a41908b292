"""The transactional outbox and the ledger of processed messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tiertrace.db import Base, new_id, utcnow


class OutboxEvent(Base):
    """An event written in the same transaction as the change it announces; the relay publishes it."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_unsent",
            "seq",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
    )

    #: Publication order (autoincrement); `message_id` is the identity consumers deduplicate on.
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(default=1)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ProcessedMessage(Base):
    """A (consumer, message) pair already handled; inserted in the same transaction as the effect."""

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)
