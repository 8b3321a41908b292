"""`tiertrace db upgrade`, `tiertrace org create` and what `tiertrace serve` hands gunicorn."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select

import cli.serve as serve_module
from cli.main import main
from tiertrace.config import Settings
from tiertrace.db import make_engine, make_session_factory
from tiertrace.organizations.models import Organization
from tiertrace.organizations.services import authenticate_token


def env_for(tmp_path):
    return {
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 't.sqlite3'}",
    }


def test_db_upgrade_creates_the_schema_and_is_safe_to_repeat(tmp_path):
    runner = CliRunner()
    env = env_for(tmp_path)
    for _ in range(2):
        result = runner.invoke(main, ["db", "upgrade"], env=env)
        assert result.exit_code == 0, result.output
    engine = make_engine(env["TIERTRACE_DATABASE_URL"])
    assert {"organizations", "declarations", "outbox_events"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def create_lumen(env: dict[str, str]) -> str:
    """`tiertrace org create lumen …`; asserts it printed a working token alone on its last line."""
    result = CliRunner().invoke(
        main,
        ["org", "create", "lumen", "--name", "Lumen GmbH", "--country", "DE", "--kind", "company"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    engine = make_engine(Settings.from_env(env).database_url)
    with make_session_factory(engine)() as session:
        assert authenticate_token(session, token).slug == "lumen"
    engine.dispose()
    return token


def test_org_create_prints_a_working_token_alone_on_the_last_stdout_line(tmp_path):
    env = env_for(tmp_path)
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    create_lumen(env)


def test_org_create_on_a_fresh_data_folder_migrates_first(tmp_path):
    """DESIGN's defaults give the embedded mode in a local data folder: no `db upgrade` needed first."""
    create_lumen({"TIERTRACE_DATA_DIR": str(tmp_path / "fresh"), "TIERTRACE_DATABASE_URL": ""})


def test_org_create_adds_to_a_database_that_has_organisations_already(tmp_path):
    env = env_for(tmp_path)
    create_lumen(env)
    helder = ["org", "create", "helder", "--name", "Helder", "--country", "NL"]
    result = CliRunner().invoke(main, helder, env=env)
    assert result.exit_code == 0, result.output
    engine = make_engine(env["TIERTRACE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Organization)) == 2
    engine.dispose()


def test_org_create_explains_a_bad_country_and_stores_nothing(tmp_path):
    runner = CliRunner()
    env = env_for(tmp_path)
    runner.invoke(main, ["db", "upgrade"], env=env)
    result = runner.invoke(main, ["org", "create", "lumen", "--name", "Lumen", "--country", "XX"], env=env)
    assert result.exit_code != 0
    assert "country" in result.output and "ISO 3166-1" in result.output
    engine = make_engine(env["TIERTRACE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        assert session.scalars(select(Organization)).all() == []
    engine.dispose()


def test_every_command_has_help():
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0
    commands = re.findall(r"^  ([a-z-]+)", top.output.split("Commands:")[1], flags=re.M)
    assert {"db", "org", "serve", "keygen", "sign", "verify", "submit"} <= set(commands)
    for command in commands:
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0 and len(result.output) > 80, command


@pytest.mark.parametrize(
    "option", [["--workers", "0"], ["--threads", "0"], ["--port", "0"], ["--port", "70000"]], ids=" ".join
)
def test_serve_refuses_an_option_out_of_range_before_it_touches_anything(tmp_path, option):
    """Before: --workers 0 silently became 2, --threads 0 and --port 70000 reached gunicorn."""
    env = {"TIERTRACE_DATA_DIR": str(tmp_path / "data"), "TIERTRACE_DATABASE_URL": None}
    result = CliRunner().invoke(main, ["serve", *option], env=env)

    assert result.exit_code == 2
    assert f"Invalid value for '{option[0]}'" in result.stderr
    assert not (tmp_path / "data").exists()


def _serve_options(monkeypatch, env: dict[str, str | None]) -> tuple[dict[str, Any], str]:
    """What `tiertrace serve` hands gunicorn (its run() stubbed out), and what it printed."""
    captured: dict[str, Any] = {}
    monkeypatch.setattr(serve_module._PortalServer, "run", lambda self: captured.update(self.options))
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    return captured, result.stderr


def test_serve_creates_no_gunicorn_control_socket_shared_with_other_portals(tmp_path, monkeypatch):
    """gunicorn 27's socket is one path per user: the first portal on a host to stop deleted another's."""
    options, _ = _serve_options(monkeypatch, {**env_for(tmp_path), "TIERTRACE_AMQP_URL": None})
    assert options["control_socket_disable"] is True


def test_serve_with_a_broker_warns_when_the_secret_key_is_generated_per_host(tmp_path, monkeypatch):
    env = {**env_for(tmp_path), "TIERTRACE_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/%2F"}
    _, said = _serve_options(monkeypatch, {**env, "TIERTRACE_SECRET_KEY": None})
    assert "warning: TIERTRACE_SECRET_KEY is not set" in said
    _, said = _serve_options(monkeypatch, {**env, "TIERTRACE_SECRET_KEY": "a-long-random-shared-secret"})
    assert "warning" not in said
