"""Materialised rollups: each current declaration's merged figures, kept up to date by the merge consumer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from tiertrace.db import Base, utcnow


class Rollup(Base):
    __tablename__ = "rollups"

    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    #: The merged figures of the declaration's subtree per unit of its part (see tiertrace.chains.merge).
    data: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Bumped on every recomputation; lets tests and benchmarks see what an event touched.
    generation: Mapped[int] = mapped_column(default=1)
