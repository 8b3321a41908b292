"""An empty database per test, which the test migrates itself (the suite's `database_url` is at the
newest schema and shared): an empty SQLite file, or with TIERTRACE_TEST_DB=postgresql a new PostgreSQL
database on the server the suite uses, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from services_support import TEST_DB, fresh_postgresql_database


@pytest.fixture
def blank_url(tmp_path: Path) -> Iterator[str]:
    if TEST_DB == "sqlite":
        path = tmp_path / "blank.sqlite3"
        path.touch()  # an empty file is an empty SQLite database, as an empty PostgreSQL one is there
        yield f"sqlite:///{path}"
        return
    with fresh_postgresql_database("tiertrace_migration_") as url:
        yield url
