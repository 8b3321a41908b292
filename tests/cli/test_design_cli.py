"""DESIGN.md, "Command line": the operator's first command on a fresh data folder."""

from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import func, select

from cli.main import main
from tiertrace.db import make_engine, make_session_factory
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import authenticate_token


def test_org_create_in_a_fresh_data_folder_registers_the_organisation_and_prints_its_token(tmp_path):
    """The defaults give the embedded mode in a local data folder: no `db upgrade` needed first."""
    data_dir = tmp_path / "fresh"
    env = {"TIERTRACE_DATA_DIR": str(data_dir), "TIERTRACE_DATABASE_URL": "", "TIERTRACE_AMQP_URL": ""}
    result = CliRunner().invoke(
        main,
        ["org", "create", "lumen", "--name", "Lumen GmbH", "--country", "DE", "--kind", "company"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    engine = make_engine(f"sqlite:///{data_dir / 'tiertrace.sqlite3'}")
    with make_session_factory(engine)() as session:
        assert authenticate_token(session, token).slug == "lumen"
    engine.dispose()


def test_org_create_leaves_a_migrated_database_as_it_is(tmp_path):
    env = {
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 't.sqlite3'}",
    }
    runner = CliRunner()
    for slug in ("lumen", "helder"):
        result = runner.invoke(
            main, ["org", "create", slug, "--name", slug.title(), "--country", "NL"], env=env
        )
        assert result.exit_code == 0, result.output
    engine = make_engine(env["TIERTRACE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 2
    engine.dispose()
