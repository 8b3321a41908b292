"""`tiertrace worker` and `python -m worker`: one command; its options are checked before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from worker.health import timestamp, write_status


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
    env = {"TIERTRACE_DATA_DIR": None, "TIERTRACE_DATABASE_URL": None, "TIERTRACE_AMQP_URL": None}
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
    env |= {"TIERTRACE_DATABASE_URL": None, "TIERTRACE_AMQP_URL": None}
    result = CliRunner().invoke(main, ["worker"], env=env)

    # Past the settings: without a broker it stops, saying the bus runs inside `serve`.
    assert result.exit_code == 2
    assert "TIERTRACE_AMQP_URL is not set" in result.stderr
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
