"""An empty database per test, which the test migrates itself (the suite's `database_url` is at the
newest schema and shared): an empty SQLite file, or with TIERTRACE_TEST_DB=postgresql a new PostgreSQL
database on the server the suite uses, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

TEST_DB = os.environ.get("TIERTRACE_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("TIERTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def blank_url(tmp_path: Path) -> Iterator[str]:
    if TEST_DB == "sqlite":
        path = tmp_path / "blank.sqlite3"
        path.touch()  # an empty file is an empty SQLite database, as an empty PostgreSQL one is there
        yield f"sqlite:///{path}"
        return
    admin = create_engine(
        "postgresql+psycopg://" + PG_ADMIN_URL.removeprefix("postgresql://"), isolation_level="AUTOCOMMIT"
    )
    name = f"tiertrace_migration_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # psycopg raises many kinds for "no server"
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
        pytest.skip(reason)
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
