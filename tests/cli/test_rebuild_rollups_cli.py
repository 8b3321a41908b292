"""`tiertrace db rebuild-rollups`: every current declaration's rollup recomputed from the declarations,
rows an older release wrote replaced without being read, safe beside a running merge; and the errors of a
database it cannot use."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from rollup_support import accepted, file_ore_in_part, held_while, merge, stored_and_rebuilt
from sqlalchemy import Text, delete, select, text, update

import cli.admin
import migrations
from cli.main import main
from tiertrace.chains import services
from tiertrace.chains.models import Rollup
from tiertrace.chains.services import chain_view, handle_events
from tiertrace.config import display_url
from tiertrace.db import make_engine
from tiertrace.organizations.models import Organization

SUMMARY = re.compile(
    r"rebuilt (\d+) rollups \(every current declaration\) and removed (\d+) of superseded declarations "
    r"in \d+\.\d s: (.+)"
)


@pytest.fixture
def programme(make_org, make_payload, submit, session_factory):
    """TOP-1 (3 x PART-1), PART-1 (2 x ORE-1), ORE-1 filed twice: three current declarations, all merged,
    and the first ORE-1's row left behind. Returns (ORE-1 again, PART-1, TOP-1, the maker of TOP-1)."""
    _, part, file_again = file_ore_in_part(make_org, make_payload, submit, session_factory)
    ore = file_again()
    assembler = make_org("assembler")
    top = submit(
        assembler,
        make_payload(
            "assembler", "TOP-1", components=[{"part_number": "PART-1", "supplier": "maker", "quantity": 3}]
        ),
    )
    merge(session_factory, accepted(ore.id) + accepted(top.id))
    return ore, part, top, assembler


def view_of(session_factory, declaration_id: str, member) -> dict:
    """The chain view as its issuer reads it (no audit-log entry)."""
    with session_factory() as session:
        return chain_view(session, declaration_id, session.get(Organization, member.organization.id))


def row_texts(session_factory) -> dict[str, str]:
    with session_factory() as session:
        return dict(session.execute(select(Rollup.declaration_id, Rollup.data.cast(Text))).all())


def test_help_says_when_to_run_it_and_what_it_costs():
    result = CliRunner().invoke(main, ["db", "rebuild-rollups", "--help"])

    assert result.exit_code == 0
    assert "rebuild-rollups" in CliRunner().invoke(main, ["db", "--help"]).stdout
    help_text = " ".join(result.stdout.split())
    for said in (
        "the merge rules or the rollup format changed",
        "NaN or Infinity",
        "Safe while the portal and the workers run",
        "run it while the portal is stopped",
        "Memory grows",
        "Needs the database at the newest schema",
    ):
        assert said in help_text


def test_stale_and_missing_rows_are_replaced_and_good_views_stay_the_same(session_factory, programme, env):
    ore, part, top, assembler = programme
    before = view_of(session_factory, top.id, assembler)
    with session_factory() as session:
        session.execute(delete(Rollup).where(Rollup.declaration_id == ore.id))
        # A row of another format, and an older release's figures in today's format.
        session.execute(update(Rollup).where(Rollup.declaration_id == part.id).values(data={"format": 0}))
        data = session.scalar(select(Rollup.data).where(Rollup.declaration_id == top.id))
        data["rollup"]["Ga"]["mass_g"] = 999.0
        session.execute(update(Rollup).where(Rollup.declaration_id == top.id).values(data=data))
        session.commit()
    assert view_of(session_factory, top.id, assembler)["rollup"]["Ga"]["mass_g"] == 999.0

    result = CliRunner().invoke(main, ["db", "rebuild-rollups"], env=env)

    assert result.exit_code == 0, result.output
    summary = SUMMARY.fullmatch(result.stderr.splitlines()[-1])
    assert summary is not None, result.stderr
    assert summary.groups() == ("3", "1", display_url(env["TIERTRACE_DATABASE_URL"]))
    assert view_of(session_factory, top.id, assembler) == before
    assert before["rollup"]["Ga"]["mass_g"] == 30.0
    stored, rebuilt = stored_and_rebuilt(session_factory)
    assert set(stored) == {ore.id, part.id, top.id} and stored == rebuilt
    assert set(row_texts(session_factory)) == {ore.id, part.id, top.id}  # the first ORE-1's row is gone


def test_rows_holding_infinity_are_replaced_without_being_read(session_factory, programme, env, engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite could store NaN or Infinity (PostgreSQL's JSONB refuses them)")
    _, part, top, assembler = programme
    before = view_of(session_factory, top.id, assembler)
    texts = row_texts(session_factory)
    with engine.begin() as connection:
        # What a release before the out-of-range fix wrote for a figure beyond the float range.
        for declaration_id in (part.id, top.id):
            corrupt = texts[declaration_id].replace('"mass_g": 30.0', '"mass_g": Infinity')
            corrupt = corrupt.replace('"mass_g": 10.0', '"mass_g": NaN')
            assert "Infinity" in corrupt or "NaN" in corrupt
            connection.execute(
                text(
                    "UPDATE rollups SET data = :data, generation = generation + 1 WHERE declaration_id = :id"
                ),
                {"id": declaration_id, "data": corrupt},
            )
    with pytest.raises(orjson.JSONDecodeError):
        view_of(session_factory, top.id, assembler)

    result = CliRunner().invoke(main, ["db", "rebuild-rollups"], env=env)

    assert result.exit_code == 0, result.output
    assert view_of(session_factory, top.id, assembler) == before
    for document in row_texts(session_factory).values():
        orjson.loads(document)  # strict JSON again


def test_progress_goes_to_stderr_batch_by_batch(session_factory, programme, env, monkeypatch):
    monkeypatch.setattr(services, "REBUILD_BATCH", 1)
    ticks = itertools.count(0.0, 1.0)  # a second passes between any two looks at the clock
    monkeypatch.setattr(cli.admin.time, "monotonic", lambda: next(ticks))

    result = CliRunner().invoke(main, ["db", "rebuild-rollups"], env=env)

    assert result.exit_code == 0, result.output
    progress = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if line.startswith("[")]
    assert progress == [
        f"rebuilding the rollups of {display_url(env['TIERTRACE_DATABASE_URL'])}",
        "1 of 3 rollups rebuilt",
        "2 of 3 rollups rebuilt",
        "3 of 3 rollups rebuilt",
    ]


def test_a_rebuild_while_a_merge_holds_older_state_loses_neither(
    session_factory, monkeypatch, make_org, make_payload, submit, env
):
    ore, part, file_again = file_ore_in_part(make_org, make_payload, submit, session_factory)

    def file_again_and_rebuild():
        file_again()
        return CliRunner().invoke(main, ["db", "rebuild-rollups"], env=env)

    # The merge of a late delivery of ORE-1's event has read ORE-1 as current, and stores last.
    result = held_while(
        session_factory,
        monkeypatch,
        lambda session: handle_events(session, accepted(ore.id)),
        file_again_and_rebuild,
    )

    assert result.exit_code == 0, result.output
    stored, rebuilt = stored_and_rebuilt(session_factory)
    assert stored[part.id]["rollup"]["Ga"]["mass_g"] == 10.0
    assert stored == rebuilt


def _run(url: str, tmp_path: Path):
    env = {"TIERTRACE_DATABASE_URL": url, "TIERTRACE_DATA_DIR": str(tmp_path), "TIERTRACE_SECRET_KEY": "x"}
    return CliRunner().invoke(main, ["db", "rebuild-rollups"], env=env)


def test_a_missing_database_file_is_an_error_and_nothing_is_created(tmp_path):
    database = tmp_path / "missing.sqlite3"

    result = _run(f"sqlite:///{database}", tmp_path)

    assert result.exit_code == 1
    assert f"no database at {database}; run `tiertrace db upgrade` first" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_the_newest_schema_is_an_error_and_left_as_it_is(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    migrations.upgrade(url, "0003")

    result = _run(url, tmp_path)

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the database at {display_url(url)} does not have the newest schema; "
        "run `tiertrace db upgrade` first\n"
    )
    assert migrations.current(url) == "0003"


def test_a_database_a_newer_release_migrated_is_refused_and_left_as_it_is(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.sqlite3'}"
    migrations.upgrade(url)
    engine = make_engine(url, pool=False)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()

    result = _run(url, tmp_path)

    assert result.exit_code == 1
    assert "is at revision 0099, which this release of tiertrace" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert migrations.current(url) == "0099"


def test_a_database_that_cannot_be_reached_is_one_line(tmp_path):
    database = "127.0.0.1:5432/tiertrace_no_such_database"
    result = _run(f"postgresql://tiertrace:s3cret@{database}", tmp_path)

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: cannot use the database at postgresql://tiertrace:***@{database}: ")
    assert "s3cret" not in result.output
