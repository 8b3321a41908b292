"""The SQL statements a piece of code sends, for tests that pin its round trips (importable as
`statement_support`: pytest puts this folder on sys.path)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def recorded(engine: Any) -> Iterator[list[str]]:
    """The statements sent to the database inside the block, in order."""
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def kinds(statements: Sequence[str], patterns: Sequence[tuple[str, str]]) -> list[str]:
    """Each statement told by the first (name, regex) of `patterns` its SQL matches, with the regex's
    group appended ("insert declarations"); the SQL itself when none matches."""
    named = []
    for statement in statements:
        for name, pattern in patterns:
            match = re.search(pattern, statement.strip())
            if match:
                named.append(f"{name} {match.group(1)}" if match.groups() else name)
                break
        else:
            named.append(statement)
    return named
