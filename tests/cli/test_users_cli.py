"""`tiertrace user create` and `tiertrace user invite`: one-time invitation links."""

from __future__ import annotations

from click.testing import CliRunner

from cli.main import main
from tiertrace.db import make_engine, make_session_factory
from tiertrace.organizations.accounts import accept_invite, authenticate_user


def env_for(tmp_path):
    return {
        "TIERTRACE_DATA_DIR": str(tmp_path),
        "TIERTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 't.sqlite3'}",
    }


def test_user_create_prints_a_working_invitation_link_alone_on_the_last_line(tmp_path):
    runner = CliRunner()
    env = env_for(tmp_path)
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    created = runner.invoke(main, ["org", "create", "lumen", "--name", "Lumen", "--country", "DE"], env=env)
    assert created.exit_code == 0, created.output

    result = runner.invoke(main, ["user", "create", "lumen", "anna@lumen.example"], env=env)
    assert result.exit_code == 0, result.output
    link = result.stdout.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8000/invite/i")

    engine = make_engine(env["TIERTRACE_DATABASE_URL"])
    with make_session_factory(engine)() as session:
        accept_invite(session, link.rsplit("/", 1)[1], "correct horse battery staple")
        session.commit()
        assert authenticate_user(
            session, "anna@lumen.example", "correct horse battery staple", address="127.0.0.1"
        )
    engine.dispose()

    again = runner.invoke(
        main,
        ["user", "invite", "anna@lumen.example"],
        env={**env, "TIERTRACE_BASE_URL": "https://portal.example.org/"},
    )
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1].startswith("https://portal.example.org/invite/i")


def test_user_create_explains_an_unknown_organisation_and_a_taken_address(tmp_path):
    runner = CliRunner()
    env = env_for(tmp_path)
    runner.invoke(main, ["db", "upgrade"], env=env)
    unknown = runner.invoke(main, ["user", "create", "ghost", "anna@ghost.example"], env=env)
    assert unknown.exit_code == 1
    assert "no organisation 'ghost'" in unknown.output
    runner.invoke(main, ["org", "create", "lumen", "--name", "Lumen", "--country", "DE"], env=env)
    runner.invoke(main, ["user", "create", "lumen", "anna@lumen.example"], env=env)
    taken = runner.invoke(
        main, ["user", "create", "lumen", "anna@lumen.example", "--base-url", "https://x.example"], env=env
    )
    assert taken.exit_code == 1
    assert "exists already" in taken.output
