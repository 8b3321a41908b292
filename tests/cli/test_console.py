"""What the commands on the database share (cli/console.py, cli/main.py): a database that is missing,
without the schema or unusable stops the command with one line that says what to do, and creates nothing."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.console import display_url
from cli.main import main

READING_COMMANDS = [["chain", "00000000-0000-4000-8000-000000000000"], ["audit", "X"]]
#: Every command that opens the database (`worker` needs RabbitMQ first).
DATABASE_COMMANDS = [
    ["db", "upgrade"],
    ["org", "create", "lumen", "--name", "Lumen", "--country", "DE"],
    ["user", "create", "lumen", "anna@lumen.example"],
    ["user", "invite", "anna@lumen.example"],
    *READING_COMMANDS,
    ["demo"],
    ["serve"],
]


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_a_reading_command_on_a_database_without_the_schema_says_to_upgrade_it(tmp_path, command):
    database = tmp_path / "empty.sqlite3"
    database.touch()  # an empty file is an empty SQLite database
    env = {
        "TIERTRACE_DATABASE_URL": f"sqlite:///{database}",
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_SECRET_KEY": "test-secret",
    }
    result = CliRunner().invoke(main, command, env=env)

    assert result.exit_code == 1
    assert "does not have the newest schema; run `tiertrace db upgrade` first" in result.stderr


@pytest.mark.parametrize("command", READING_COMMANDS)
def test_a_reading_command_in_a_new_data_folder_creates_nothing_and_says_what_to_do(tmp_path, command):
    data = tmp_path / "data"
    env = {"TIERTRACE_DATA_DIR": str(data), "TIERTRACE_DATABASE_URL": None, "TIERTRACE_SECRET_KEY": None}
    result = CliRunner().invoke(main, command, env=env)

    assert result.exit_code == 1
    assert f"no database at {data / 'tiertrace.sqlite3'}; run `tiertrace db upgrade` first" in result.stderr
    assert not data.exists()  # no folder, no empty database, no secret key


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nonsense://x", "nonsense://x"),
        ("nonsense", "nonsense"),
        # Whether PostgreSQL runs here or not, connecting fails: no such role, database or server.
        (
            "postgresql://tiertrace:s3cret@127.0.0.1:5432/tiertrace_no_such_database",
            "postgresql://tiertrace:***@127.0.0.1:5432/tiertrace_no_such_database",
        ),
    ],
)
@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_a_database_that_cannot_be_used_stops_every_command_with_one_line(tmp_path, command, url, shown):
    env = {
        "TIERTRACE_DATABASE_URL": url,
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_SECRET_KEY": "test-secret",
        "TIERTRACE_AMQP_URL": None,
    }
    result = CliRunner().invoke(main, command, env=env)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: cannot use the database at {shown}: ")
    assert line.endswith("; check TIERTRACE_DATABASE_URL")
    assert "s3cret" not in result.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://tiertrace:pa:ss/w@db.example:5432/tt",
            "postgresql://tiertrace:***@db.example:5432/tt",
        ),
        ("postgresql+psycopg://tiertrace@db.example/tt", "postgresql+psycopg://tiertrace@db.example/tt"),
        ("postgresql://db.example:5432/tt", "postgresql://db.example:5432/tt"),
        ("sqlite:////srv/a@b/tiertrace.sqlite3", "sqlite:////srv/a@b/tiertrace.sqlite3"),
    ],
)
def test_a_database_url_is_printed_with_its_password_masked(url, shown):
    assert display_url(url) == shown
