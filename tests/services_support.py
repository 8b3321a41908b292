"""The services the suite runs against (importable as `services_support`: tests/ is on sys.path): which
database pass this is, and what a test does when PostgreSQL or another service is not there."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

IN_CI = os.environ.get("CI") == "true"
TEST_DB = os.environ.get("TIERTRACE_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("TIERTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def service_missing(reason: str) -> None:
    """Skip (locally) or fail (CI=true) a test whose service is not there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)")
    pytest.skip(reason)


def pg_admin_engine() -> Engine:
    url = "postgresql+psycopg://" + PG_ADMIN_URL.removeprefix("postgresql://")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def fresh_postgresql_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database named `prefix` + a random suffix, dropped afterwards.
    Skips (locally) or fails (CI=true) when the server is not there."""
    admin = pg_admin_engine()
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # psycopg raises many kinds for "no server"
        service_missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
