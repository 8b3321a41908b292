"""What the reading commands share (cli/console.py): a database without the schema says what to do."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import main


@pytest.mark.parametrize("command", [["chain", "00000000-0000-4000-8000-000000000000"], ["audit", "X"]])
def test_a_reading_command_on_a_database_without_the_schema_says_to_upgrade_it(tmp_path, command):
    env = {
        "TIERTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_SECRET_KEY": "test-secret",
    }
    result = CliRunner().invoke(main, command, env=env)

    assert result.exit_code == 1
    assert "run `tiertrace db upgrade` first" in result.stderr
