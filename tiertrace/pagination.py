"""Keyset pagination, newest first, for lists that answer `{"items": [...], "next": cursor}`."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session

from tiertrace.errors import RuleViolationError

T = TypeVar("T")

PAGE_SIZE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: Opaque cursor of the next page; None on the last one.
    next: str | None


def newest_first(
    session: Session, query: Select[Any], model: Any, *, cursor: str | None, limit: int = PAGE_SIZE
) -> Page[Any]:
    """One page of `query` over `model` (which has `created_at` and `id`), newest first.

    The cursor is the (created_at, id) of the last item shown, so pages neither repeat nor skip rows
    when new ones arrive meanwhile. Raises RuleViolationError for a cursor this function did not make.
    """
    if cursor:
        created_at, row_id = _decode(cursor)
        query = query.where(
            or_(model.created_at < created_at, and_(model.created_at == created_at, model.id < row_id))
        )
    rows = list(session.scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    items, more = rows[:limit], len(rows) > limit
    return Page(items, _encode(items[-1]) if more else None)


def _encode(row: Any) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), str(row_id)
    except (ValueError, TypeError) as exc:
        raise RuleViolationError(
            "bad cursor", details={"cursor": "use the 'next' value of a list answer"}
        ) from exc
