"""What the commands on the database share (cli/console.py, cli/main.py): a database that is missing,
without the schema or unusable stops the command with one line that says what to do, and creates nothing."""

from __future__ import annotations

import importlib.util

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import inspect

from cli.main import main
from tiertrace.config import display_url
from tiertrace.db import make_engine

#: Commands that work on a database someone migrated before: they create no folder, no file, no schema.
NEEDS_DATABASE = [
    ["user", "create", "lumen", "anna@lumen.example"],
    ["user", "invite", "anna@lumen.example"],
    ["chain", "00000000-0000-4000-8000-000000000000"],
    ["audit", "X"],
]
#: Every command that opens the database (`worker` needs RabbitMQ first). `db upgrade`, `org create`,
#: `serve` and `demo` migrate it; the others need it migrated.
DATABASE_COMMANDS = [
    ["db", "upgrade"],
    ["org", "create", "lumen", "--name", "Lumen", "--country", "DE"],
    *NEEDS_DATABASE,
    ["demo"],
    ["serve"],
]
#: What a database URL that tiertrace cannot use is told.
SUPPORTED = (
    "tiertrace supports SQLite (sqlite:///FILE) and PostgreSQL (postgresql://USER:PASSWORD@HOST:PORT/NAME, "
    "through psycopg)"
)


@pytest.mark.parametrize("command", NEEDS_DATABASE, ids=" ".join)
def test_a_command_on_a_database_without_the_schema_says_to_upgrade_it_and_changes_nothing(tmp_path, command):
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
    engine = make_engine(env["TIERTRACE_DATABASE_URL"])
    assert inspect(engine).get_table_names() == []  # not migrated behind the operator's back
    engine.dispose()


@pytest.mark.parametrize("command", [*NEEDS_DATABASE, ["worker"]], ids=" ".join)
def test_a_command_in_a_new_folder_creates_nothing_and_says_what_to_do(tmp_path, monkeypatch, command):
    """The defaults: no TIERTRACE_* variable, the data folder ./tiertrace-data does not exist yet."""
    monkeypatch.chdir(tmp_path)
    unset = ("DATA_DIR", "DATABASE_URL", "SECRET_KEY", "AMQP_URL", "BASE_URL")
    env: dict[str, str | None] = {f"TIERTRACE_{name}": None for name in unset}
    if command == ["worker"]:  # past its first check, that a broker is named
        env["TIERTRACE_AMQP_URL"] = "amqp://guest:guest@127.0.0.1:5672/%2F"
    result = CliRunner().invoke(main, command, env=env)

    assert result.exit_code == 1
    database = tmp_path.resolve() / "tiertrace-data" / "tiertrace.sqlite3"
    assert f"no database at {database}; run `tiertrace db upgrade` first" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no data folder, no empty database, no secret key


def _invoke_on(url: str, tmp_path, command: list[str]):
    """`command` run with TIERTRACE_DATABASE_URL=`url` and no broker."""
    env = {
        "TIERTRACE_DATABASE_URL": url,
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_SECRET_KEY": "test-secret",
        "TIERTRACE_AMQP_URL": None,
    }
    return CliRunner().invoke(main, command, env=env)


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
    result = _invoke_on(url, tmp_path, command)

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


@pytest.mark.parametrize(
    ("url", "shown", "module"),
    [
        ("mysql://u:s3cret@localhost/x", "mysql://u:***@localhost/x", "MySQLdb"),
        ("postgresql+asyncpg://u:s3cret@localhost/x", "postgresql+asyncpg://u:***@localhost/x", "asyncpg"),
    ],
)
@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_a_database_whose_driver_is_not_installed_stops_every_command_with_one_line(
    tmp_path, command, url, shown, module
):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    result = _invoke_on(url, tmp_path, command)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line == (
        f"Error: cannot use the database at {shown}: its driver, the Python module {module}, is not "
        f"installed; {SUPPORTED}; check TIERTRACE_DATABASE_URL"
    )


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_a_database_of_a_kind_sqlalchemy_does_not_know_names_the_databases_tiertrace_supports(
    tmp_path, command
):
    result = _invoke_on("mongodb://u:s3cret@h/x", tmp_path, command)

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: cannot use the database at mongodb://u:***@h/x: no driver for mongodb databases is "
        f"installed; {SUPPORTED}; check TIERTRACE_DATABASE_URL\n"
    )


def test_a_missing_module_that_is_not_the_database_driver_is_not_blamed_on_the_database():
    """Only the driver of TIERTRACE_DATABASE_URL is reported as one line; another missing module is a bug."""

    @click.group(cls=type(main))
    def group() -> None:
        pass

    @group.command()
    def export() -> None:
        import tiertrace_no_such_module  # noqa: F401  (the import is the test)

    result = CliRunner().invoke(group, ["export"], env={"TIERTRACE_DATABASE_URL": "mysql://u:p@h/x"})

    assert isinstance(result.exception, ModuleNotFoundError)
    assert result.exception.name == "tiertrace_no_such_module"


@pytest.mark.parametrize(
    "url", ["nonsense://x", "postgresql://tiertrace:s3cret@127.0.0.1:5432/tiertrace_no_such_database"]
)
@pytest.mark.parametrize("command", [["db", "upgrade"], ["serve"], ["demo"]], ids=" ".join)
def test_a_migrating_command_that_cannot_use_the_database_leaves_nothing_behind(
    tmp_path, monkeypatch, command, url
):
    """No data folder and no secret key file in the working folder: the settings come after the migration."""
    monkeypatch.chdir(tmp_path)
    unset = {f"TIERTRACE_{name}": None for name in ("DATA_DIR", "SECRET_KEY", "AMQP_URL", "BASE_URL")}
    result = CliRunner().invoke(main, command, env={**unset, "TIERTRACE_DATABASE_URL": url})

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot use the database at {display_url(url)}: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["serve"], ["demo"], ["worker"]], ids=" ".join)
def test_a_setting_of_the_wrong_type_stops_the_command_with_one_line_naming_it(tmp_path, command):
    """Before: a ValueError traceback ("not a boolean: 'maybe'") that did not say which variable."""
    env = {
        "TIERTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "TIERTRACE_DATA_DIR": str(tmp_path / "data"),
        "TIERTRACE_AMQP_URL": "amqp://guest:guest@127.0.0.1:1/%2F",
        "TIERTRACE_SECURE_COOKIES": "maybe",
    }
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    result = CliRunner().invoke(main, command, env=env)

    assert result.exit_code == 1
    assert result.stderr == "Error: TIERTRACE_SECURE_COOKIES must be true or false, not 'maybe'\n"
    assert not (tmp_path / "data").exists()
