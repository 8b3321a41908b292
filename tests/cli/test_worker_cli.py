"""`tiertrace worker` and `python -m worker`: one command; its options are checked before anything starts,
and both stop, or wait, alike on a configuration, a database or a broker they cannot use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

import migrations
from cli.main import main
from tiertrace import __version__
from tiertrace.db import make_engine
from worker.health import timestamp, write_status

ROOT = Path(__file__).resolve().parents[2]
#: The two ways to start a worker, as an operator types them.
ENTRY_POINTS = {
    "tiertrace worker": [str(Path(sys.executable).with_name("tiertrace")), "worker"],
    "python -m worker": [sys.executable, "-m", "worker"],
}
NEWEST = migrations.revisions()[-1]
#: An AMQP URL the worker accepts; these tests stop it before it connects.
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.mark.parametrize(
    ("option", "value"),
    [("--log-level", "LOUD"), ("--concurrency", "0"), ("--prefetch", "0"), ("--prefetch", "-1")],
)
def test_a_worker_option_out_of_range_is_a_usage_error_that_names_it(tmp_path, monkeypatch, option, value):
    """Before: an unknown level was a traceback, concurrency 0 a worker that never handles anything,
    prefetch 0 no limit at all (RabbitMQ's meaning of 0)."""
    monkeypatch.chdir(tmp_path)
    env = {"TIERTRACE_DATA_DIR": None, "TIERTRACE_DATABASE_URL": None, "TIERTRACE_AMQP_URL": None}
    result = CliRunner().invoke(main, ["worker", option, value], env=env)

    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_log_level_may_be_given_in_lower_case(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"TIERTRACE_DATA_DIR": None, "TIERTRACE_DATABASE_URL": None, "TIERTRACE_AMQP_URL": AMQP_URL}
    result = CliRunner().invoke(main, ["worker", "--log-level", "debug"], env=env)

    # The options pass; the missing database stops it next.
    assert result.exit_code == 1
    assert "no database at" in result.stderr


def test_python_m_worker_is_the_same_command_with_the_same_checks(tmp_path):
    """`python -m worker` had its own argparse copy of the options, without their range checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERTRACE_")}
    result = subprocess.run(
        [sys.executable, "-m", "worker", "--concurrency", "0"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Usage: python -m worker" in result.stderr
    assert "Invalid value for '--concurrency'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_worker_creates_no_secret_key_file(tmp_path):
    """A worker signs no web session; before, it generated TIERTRACE_DATA_DIR/secret_key like `serve`."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "tiertrace.sqlite3").touch()
    env = {"TIERTRACE_DATA_DIR": str(data), "TIERTRACE_SECRET_KEY": None}
    env |= {"TIERTRACE_DATABASE_URL": None, "TIERTRACE_AMQP_URL": "amqp://guest:guest@127.0.0.1:notaport/"}
    result = CliRunner().invoke(main, ["worker"], env=env)

    # Past the settings: the AMQP URL, checked after them, stops it before it connects anywhere.
    assert result.exit_code == 1
    assert "TIERTRACE_AMQP_URL cannot be used" in result.stderr
    assert [p.name for p in data.iterdir()] == ["tiertrace.sqlite3"]


def test_check_needs_a_health_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["worker", "--check"], env={"TIERTRACE_WORKER_HEALTH_FILE": None})

    assert result.exit_code == 2
    assert "--check needs --health-file or TIERTRACE_WORKER_HEALTH_FILE" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_check_exits_0_for_a_healthy_worker_and_1_otherwise_saying_why_in_one_line(tmp_path):
    path = tmp_path / "health.json"
    now = time.time()
    write_status(
        path,
        {
            "pid": 4242,
            "state": "running",
            "reason": None,
            "started_at": timestamp(now - 60),
            "updated_at": timestamp(now),
            "consumers": {"propagate": True},
            "relay": None,
        },
    )
    env = {"TIERTRACE_WORKER_HEALTH_FILE": str(path)}
    healthy = CliRunner().invoke(main, ["worker", "--check"], env=env)
    assert (healthy.exit_code, healthy.stderr) == (0, "")
    assert healthy.stdout.startswith("healthy: worker pid 4242 is running (health file written ")

    # --health-file wins over the variable, as for every option.
    missing = tmp_path / "other.json"
    unhealthy = CliRunner().invoke(main, ["worker", "--check", "--health-file", str(missing)], env=env)
    assert (unhealthy.exit_code, unhealthy.stdout) == (1, "")
    assert unhealthy.stderr.startswith(f"unhealthy: no health file at {missing}: ")
    assert unhealthy.stderr.count("\n") == 1
    assert not missing.exists()

    time.sleep(1.1)
    stale = CliRunner().invoke(main, ["worker", "--check", "--max-age", "1"], env=env)
    assert stale.exit_code == 1
    assert "worker pid 4242 is dead or hung" in stale.stderr


def test_a_health_file_in_a_folder_that_does_not_exist_is_refused_before_anything_starts(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "no-such-folder" / "health.json"
    env = {"TIERTRACE_DATA_DIR": None, "TIERTRACE_DATABASE_URL": None, "TIERTRACE_AMQP_URL": None}
    result = CliRunner().invoke(main, ["worker", "--health-file", str(path)], env=env)

    assert result.exit_code == 2
    assert f"Invalid value for --health-file: the folder {path.parent} does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- both entry points, as processes -------------------------------------------------------------------


def closed_port() -> int:
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sqlite_database(tmp_path: Path, revision: str | None = NEWEST) -> str:
    """The URL of a SQLite file migrated to `revision` (None: marked as at revision 0099, which no release
    of this one knows)."""
    url = f"sqlite:///{tmp_path / 'tiertrace.sqlite3'}"
    migrations.upgrade(url, revision or NEWEST)
    if revision is None:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        engine.dispose()
    return url


def worker_env(database_url: str, amqp_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERTRACE_")}
    env |= {"PYTHONPATH": str(ROOT), "TIERTRACE_DATABASE_URL": database_url}
    return env | ({"TIERTRACE_AMQP_URL": amqp_url} if amqp_url else {})


def run_worker(entry: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ENTRY_POINTS[entry], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def wait_then_terminate(entry: str, env: dict[str, str], cwd: Path, line: str) -> tuple[int, str]:
    """Start a worker, wait until its stderr has `line`, send SIGTERM; returns its exit status and stderr."""
    log = cwd / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(ENTRY_POINTS[entry], cwd=cwd, env=env, stderr=stderr, text=True)
    try:
        deadline = time.monotonic() + 30
        while line not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert line in log.read_text(), log.read_text()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return status, log.read_text()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("database", ["migrated", "missing"])
def test_without_an_amqp_url_both_entry_points_exit_2_saying_the_bus_runs_in_serve(tmp_path, entry, database):
    """Before: without the SQLite file it exited 1 for the file, though no database makes it useful."""
    url = sqlite_database(tmp_path) if database == "migrated" else f"sqlite:///{tmp_path / 'absent.sqlite3'}"
    result = run_worker(entry, worker_env(url, None), tmp_path)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: TIERTRACE_AMQP_URL is not set. Without a broker the bus runs inside `tiertrace serve` "
        "(embedded mode); set it to run consumers here.\n"
    )


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("amqp_url", "message"),
    [
        (
            "http://guest:s3cret@127.0.0.1:5672/",
            "TIERTRACE_AMQP_URL must be an amqp:// or amqps:// URL, not 'http://guest:***@127.0.0.1:5672/'",
        ),
        (
            "amqp://guest:s3cret@127.0.0.1:notaport/%2F",
            "TIERTRACE_AMQP_URL cannot be used: Port could not be cast to integer value as 'notaport'",
        ),
        (
            "amqp://guest:s3cret@127.0.0.1/%2F?heartbeat=often",
            "TIERTRACE_AMQP_URL cannot be used: Invalid heartbeat value 'often': "
            "ValueError(\"invalid literal for int() with base 10: 'often'\")",
        ),
    ],
    ids=["scheme", "port", "query"],
)
def test_an_amqp_url_that_cannot_be_used_stops_both_entry_points_with_one_line(
    tmp_path, entry, amqp_url, message
):
    """Before: a port or query pika cannot read was a ValueError traceback; the password was printed."""
    result = run_worker(entry, worker_env(sqlite_database(tmp_path), amqp_url), tmp_path)

    assert (result.returncode, result.stderr) == (1, f"Error: {message}\n")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("database_url", "message"),
    [
        (
            "nonsense",
            "cannot use the database at nonsense: Could not parse SQLAlchemy URL from given URL string",
        ),
        (
            "mongodb://u:s3cret@h/x",
            "cannot use the database at mongodb://u:***@h/x: no driver for mongodb databases is installed; "
            "tiertrace supports SQLite (sqlite:///FILE) and PostgreSQL "
            "(postgresql://USER:PASSWORD@HOST:PORT/NAME, through psycopg)",
        ),
    ],
    ids=["unparsable", "no-driver"],
)
def test_a_database_url_that_cannot_be_used_stops_both_entry_points_with_one_line(
    tmp_path, entry, database_url, message
):
    """Before: `tiertrace worker` said so in one line, `python -m worker` printed a traceback."""
    result = run_worker(entry, worker_env(database_url, "amqp://guest:guest@127.0.0.1/%2F"), tmp_path)

    assert (result.returncode, result.stderr) == (1, f"Error: {message}; check TIERTRACE_DATABASE_URL\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_both_entry_points_wait_for_a_database_that_does_not_answer_and_stop_at_sigterm(tmp_path, entry):
    port = closed_port()
    env = worker_env(
        f"postgresql://tiertrace:s3cret@127.0.0.1:{port}/tiertrace", "amqp://guest:guest@127.0.0.1/%2F"
    )
    shown = f"postgresql+psycopg://tiertrace:***@127.0.0.1:{port}/tiertrace"
    status, stderr = wait_then_terminate(entry, env, tmp_path, f"database not available yet at {shown} (")

    assert status == 0, stderr
    assert "OperationalError" in stderr and "Connection refused" in stderr
    assert "worker started" not in stderr and "Traceback" not in stderr and "s3cret" not in stderr


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_both_entry_points_wait_for_a_database_without_the_newest_schema_and_stop_at_sigterm(tmp_path, entry):
    """`tiertrace serve` may be migrating it (docker compose starts both at once). Before, the worker took
    messages on the older schema (and on an empty database failed every relay pass with a traceback)."""
    url = sqlite_database(tmp_path, migrations.revisions()[-2])
    env = worker_env(url, f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F")
    status, stderr = wait_then_terminate(
        entry,
        env,
        tmp_path,
        f"database not available yet at {url} (SchemaError: the database at {url} does not have the newest "
        "schema; run `tiertrace db upgrade` first); retrying in",
    )

    assert status == 0, stderr
    assert "broker not available yet" not in stderr and "worker started" not in stderr
    assert "alembic" not in stderr  # its two INFO lines per try


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_database_that_a_newer_release_migrated_stops_both_entry_points_with_one_error_line(
    tmp_path, entry
):
    """Before, the worker ran on a schema it does not know."""
    url = sqlite_database(tmp_path, None)
    result = run_worker(entry, worker_env(url, f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"), tmp_path)

    assert result.returncode == 1, result.stderr
    [error] = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert error.endswith(
        f"worker.rabbitmq: the database at {url} is at revision 0099, which this release of tiertrace "
        f"({__version__}, newest revision {NEWEST}) does not know: a newer release migrated it; "
        "run that release"
    )
    assert "broker not available yet" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_both_entry_points_wait_for_a_broker_that_does_not_answer_and_stop_at_sigterm(tmp_path, entry):
    port = closed_port()
    env = worker_env(sqlite_database(tmp_path), f"amqp://guest:s3cret@127.0.0.1:{port}/%2F")
    status, stderr = wait_then_terminate(
        entry,
        env,
        tmp_path,
        f"broker not available yet at 127.0.0.1:{port}/%2F (cannot connect: ConnectionRefusedError: "
        "[Errno 111] Connection refused); retrying in",
    )

    assert status == 0, stderr
    assert "database not available yet" not in stderr and "worker started" not in stderr
    assert "s3cret" not in stderr


def test_the_help_of_both_entry_points_is_the_same_and_says_what_the_worker_does_above():
    """Before, `python -m worker -h` was "No such option: '-h'", and the help said nothing of the schema
    the worker waits for nor of the exit statuses."""
    helps = {
        entry: subprocess.run(
            [*command, "-h"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
        ).stdout
        for entry, command in ENTRY_POINTS.items()
    }

    assert helps["tiertrace worker"].startswith("Usage: tiertrace worker [OPTIONS]\n")
    assert helps["python -m worker"].startswith("Usage: python -m worker [OPTIONS]\n")
    assert len({h.split("\n", 1)[1] for h in helps.values()}) == 1
    said = " ".join(helps["tiertrace worker"].split())
    for claim in (
        "Waits, one line per try, until the database answers with the newest schema",
        "then until the broker answers",
        "on SIGTERM finishes the messages in hand and exits with status 0 (at once while it waits)",
        "Exits with status 2 without TIERTRACE_AMQP_URL",
        "Exits with status 1, in one line, for a TIERTRACE_* value or database URL it cannot use, a SQLite "
        "file that is not there, a database that a newer release migrated",
        "-h, --help",
    ):
        assert claim in said, claim
