"""Fixtures for the console-script tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment a command runs with against the test database (pass it to CliRunner.invoke)."""
    return {
        "TIERTRACE_DATABASE_URL": database_url,
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_SECRET_KEY": "test-secret",
    }
