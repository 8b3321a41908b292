"""`tiertrace worker` and `python -m worker`: one command; its options are checked before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main


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
