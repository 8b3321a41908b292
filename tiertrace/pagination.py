"""Keyset pagination for lists that answer `{"items": [...], "next": cursor}`."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, TypeDecorator, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from tiertrace.errors import RuleViolationError
from tiertrace.text import unstorable_text_paths

T = TypeVar("T")

PAGE_SIZE = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: Opaque cursor of the next page; None on the last one.
    next: str | None


@dataclass(frozen=True)
class Key:
    """A column of an order; NOT NULL, so that a page after a cursor is one range of an index on the
    order's columns (the databases disagree on where NULLs sort, and a NULL has no range after it)."""

    column: InstrumentedAttribute[Any]
    descending: bool = False

    def __post_init__(self) -> None:
        if self.column.expression.nullable:
            raise ValueError(f"{self.column} is nullable: it cannot be a key of an order")


@dataclass(frozen=True)
class Order:
    """A total order of rows: its keys, the last one unique (an id), and a name that its cursors carry,
    so that a cursor made for one order is refused by another."""

    name: str
    keys: tuple[Key, ...]


def newest_first_order(model: Any) -> Order:
    """The newest first: by `created_at`, then `id`, both descending, of `model`, which has both."""
    return Order("newest", (Key(model.created_at, descending=True), Key(model.id, descending=True)))


def keyset_page(
    session: Session, query: Select[Any], order: Order, *, cursor: str | None, limit: int = PAGE_SIZE
) -> Page[Any]:
    """One page of `query` in `order`, from after the row `cursor` names (from the first without one).

    The cursor holds the keys of the last item shown, so pages neither repeat nor skip rows when rows
    arrive meanwhile. Raises RuleViolationError for a cursor that `order` did not make.
    """
    if cursor:
        query = query.where(_after(order, _decode(order, cursor)))
    rows = list(session.scalars(query.order_by(*map(_sort, order.keys)).limit(limit + 1)))
    items, more = rows[:limit], len(rows) > limit
    return Page(items, _encode(order, items[-1]) if more else None)


def newest_first(
    session: Session, query: Select[Any], model: Any, *, cursor: str | None, limit: int = PAGE_SIZE
) -> Page[Any]:
    """One page of `query` over `model` (which has `created_at` and `id`), newest first (`keyset_page`)."""
    return keyset_page(session, query, newest_first_order(model), cursor=cursor, limit=limit)


def _sort(key: Key) -> ColumnElement[Any]:
    return key.column.desc() if key.descending else key.column.asc()


def _after(order: Order, values: list[Any]) -> ColumnElement[bool]:
    """Rows after the one whose keys are `values`: k1 after v1, or k1 = v1 and k2 after v2, and so on."""
    either: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for key, value in zip(order.keys, values, strict=True):
        column = key.column
        either.append(and_(*equal, column < value if key.descending else column > value))
        equal.append(column == value)
    first = order.keys[0]
    # The same rows, with a bound the databases read as where to start in an index on the order's columns;
    # without it they read the index from its first row on and filter out the pages before.
    return and_(first.column <= values[0] if first.descending else first.column >= values[0], or_(*either))


def _encode(order: Order, row: Any) -> str:
    values = [getattr(row, key.column.key) for key in order.keys]
    raw = json.dumps([order.name, *(v.isoformat() if isinstance(v, date) else v for v in values)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(order: Order, cursor: str) -> list[Any]:
    try:
        name, *raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        # Never made here, and PostgreSQL would refuse it in the query (a 500) where SQLite finds no row.
        if unstorable_text_paths(raw):
            raise ValueError("text no database can hold (NUL, an unpaired surrogate)")
        if name != order.name or len(raw) != len(order.keys):
            raise ValueError("a cursor of another order")
        return [_value(key, value) for key, value in zip(order.keys, raw, strict=True)]
    except (ValueError, TypeError) as exc:
        raise RuleViolationError(
            "bad cursor", details={"cursor": "use the 'next' value of a list answer"}
        ) from exc


def _value(key: Key, raw: Any) -> Any:
    kind = key.column.type
    python_type = (kind.impl_instance if isinstance(kind, TypeDecorator) else kind).python_type
    if issubclass(python_type, date):  # datetime too
        value = python_type.fromisoformat(raw)
        # Never made here, and a naive timestamp would fail in the query (UTCDateTime) rather than here.
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("a timestamp without a time zone")
        return value
    if not isinstance(raw, python_type):
        raise TypeError(f"not a {python_type.__name__}")
    return raw
