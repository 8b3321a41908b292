"""`tiertrace db upgrade` says from which revision to which it went; `tiertrace db current` says where
the database is, and exits 0 only at the newest revision. No command touches a database that a newer
release migrated."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from migration_support import schema, write_rows
from sqlalchemy import text

import migrations
from cli.main import main
from tiertrace import __version__
from tiertrace.config import display_url
from tiertrace.db import make_engine

NEWEST = migrations.revisions()[-1]


def run(url: str, *command: str):
    return CliRunner().invoke(main, list(command), env={"TIERTRACE_DATABASE_URL": url})


def test_upgrade_says_from_which_revision_to_which(blank_url):
    migrations.upgrade(blank_url, "0002")
    write_rows(blank_url)

    result = run(blank_url, "db", "upgrade")

    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"database migrated from revision 0002 to revision {NEWEST}, the newest: {display_url(blank_url)}\n"
    )
    assert migrations.current(blank_url) == NEWEST


def test_upgrade_of_an_empty_database_and_again(blank_url):
    first, again = run(blank_url, "db", "upgrade"), run(blank_url, "db", "upgrade")

    assert first.exit_code == again.exit_code == 0
    assert first.stderr.startswith(
        f"database migrated from an empty database to revision {NEWEST}, the newest"
    )
    assert again.stderr.startswith(f"database at revision {NEWEST}, the newest; nothing to do")


def test_current_names_the_revision_and_exits_1_until_the_newest(blank_url):
    empty = run(blank_url, "db", "current")
    migrations.upgrade(blank_url, "0003")
    behind = run(blank_url, "db", "current")
    migrations.upgrade(blank_url)
    newest = run(blank_url, "db", "current")

    assert (empty.exit_code, empty.stdout) == (
        1,
        f"none (the newest is {NEWEST}: run `tiertrace db upgrade`)\n",
    )
    assert (behind.exit_code, behind.stdout) == (
        1,
        f"0003 (the newest is {NEWEST}: run `tiertrace db upgrade`)\n",
    )
    assert (newest.exit_code, newest.stdout) == (0, f"{NEWEST} (the newest)\n")


def test_a_database_a_newer_release_migrated_is_refused_and_left_as_it_is(blank_url):
    migrations.upgrade(blank_url, "0003")
    engine = make_engine(blank_url, pool=False)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    before = schema(blank_url)

    for command in (
        ("db", "upgrade"),
        ("db", "current"),
        ("org", "create", "lumen", "--name", "Lumen", "--country", "DE", "--kind", "company"),
        ("org", "onboarding"),
    ):
        result = run(blank_url, *command)
        assert result.exit_code == 1
        assert result.stderr == (
            f"Error: the database at {display_url(blank_url)} is at revision 0099, which this release of "
            f"tiertrace ({__version__}, newest revision {NEWEST}) does not know: a newer release migrated "
            "it; run that release\n"
        )
    assert migrations.current(blank_url) == "0099" and schema(blank_url) == before


def test_current_creates_no_database(tmp_path: Path):
    database = tmp_path / "missing.sqlite3"

    result = run(f"sqlite:///{database}", "db", "current")

    assert result.exit_code == 1
    assert f"no database at {database}; run `tiertrace db upgrade` first" in result.stderr
    assert list(tmp_path.iterdir()) == []
