"""`tiertrace db upgrade`, `tiertrace org create` and what `tiertrace serve` hands gunicorn."""

from __future__ import annotations

import csv
import io
import json
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


def unregistered(name: str, country: str | None = "LU", part_number: str = "FOIL-2") -> dict[str, Any]:
    return {
        "part_number": part_number,
        "supplier": None,
        "supplier_name": name,
        "supplier_country": country,
        "quantity": 1,
        "request_disclosure": True,
    }


@pytest.fixture
def named(make_org, make_payload, submit) -> tuple[str, str]:
    """Moselle Foil SA (LU) named by two companies, Vosges Graphite (FR) by the second; neither on the
    portal. Returns the days the two declarations were accepted."""
    helder, noord = make_org("helder"), make_org("noord")
    first = submit(helder, make_payload("helder", "TRM-2040", components=[unregistered("Moselle Foil SA")]))
    components = [unregistered("moselle foil  SA"), unregistered("Vosges Graphite", "FR", "GR-1")]
    second = submit(noord, make_payload("noord", "HULL-7", components=components))
    return f"{first.accepted_at:%Y-%m-%d}", f"{second.accepted_at:%Y-%m-%d}"


def onboarding(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, ["org", "onboarding", *args], env=env)


def test_org_onboarding_prints_a_table_most_named_first_without_who_named_whom(env, named):
    result = onboarding(env)

    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split() == [
        "supplier",
        "country",
        "declarations",
        "organisations",
        "first",
        "named",
        "last",
        "named",
        "status",
    ]
    assert [line.split()[:-2] for line in lines] == [
        ["Moselle", "Foil", "SA", "LU", "2", "2", *named],
        ["Vosges", "Graphite", "FR", "1", "1", named[1], named[1]],
    ]
    assert all(line.endswith("to onboard") for line in lines)
    for secret in ("helder", "noord", "TRM-2040", "HULL-7", "FOIL-2", "GR-1"):
        assert secret not in result.output


def test_org_onboarding_marks_a_supplier_registered_since(env, named):
    registered = CliRunner().invoke(
        main, ["org", "create", "moselle", "--name", "Moselle Foil SA", "--country", "LU"], env=env
    )
    assert registered.exit_code == 0, registered.output

    lines = onboarding(env).stdout.splitlines()

    assert lines[1].startswith("Moselle Foil SA") and lines[1].endswith("registered as moselle")
    assert lines[2].endswith("to onboard")


def test_org_onboarding_json_is_the_api_answer(env, named, client, make_org):
    operator = make_org("operator", kind="operator")
    result = onboarding(env, "--format", "json")

    assert result.exit_code == 0, result.output
    api = client.get("/api/v1/organizations/onboarding", headers=operator.headers).get_json()
    assert json.loads(result.stdout) == api
    assert [(s["name"], s["declarations"]) for s in api["items"]] == [
        ("Moselle Foil SA", 2),
        ("Vosges Graphite", 1),
    ]


def test_org_onboarding_csv_keeps_a_supplier_chosen_name_from_running_as_a_formula(
    env, make_org, make_payload, submit
):
    helder = make_org("helder")
    submit(
        helder, make_payload("helder", "A", components=[unregistered('=HYPERLINK("http://x.example")', None)])
    )

    result = onboarding(env, "--format", "csv")

    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[:2] == [
        ["[suppliers_to_onboard]"],
        [
            "name",
            "country",
            "declarations",
            "organizations",
            "first_named_at",
            "last_named_at",
            "registered_as",
        ],
    ]
    assert rows[2][:4] == ['\'=HYPERLINK("http://x.example")', "", "1", "1"]


def test_org_onboarding_keeps_control_characters_of_a_name_from_the_terminal(
    env, make_org, make_payload, submit
):
    helder = make_org("helder")
    submit(helder, make_payload("helder", "A", components=[unregistered("Evil\x1b[2J Corp")]))

    result = onboarding(env)

    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert result.stdout.splitlines()[1].startswith("Evil?[2J Corp")


def test_org_onboarding_says_when_there_is_nothing_to_onboard(env, make_org):
    make_org("helder")

    result = onboarding(env)

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "nothing to onboard" in result.stderr


def test_org_onboarding_creates_no_database(tmp_path):
    data = tmp_path / "data"

    result = onboarding({"TIERTRACE_DATA_DIR": str(data), "TIERTRACE_DATABASE_URL": ""})

    assert result.exit_code == 1
    assert "no database" in result.stderr and "tiertrace db upgrade" in result.stderr
    assert not data.exists()


def test_org_onboarding_help_says_what_is_listed_and_what_is_not():
    result = CliRunner().invoke(main, ["org", "onboarding", "--help"])

    assert result.exit_code == 0
    assert (
        "most named first" in result.output and "Nothing says which organisations named it" in result.output
    )
    assert "table|csv|json" in result.output
