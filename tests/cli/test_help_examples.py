"""The examples of the commands that read the database run as printed, against the demo they name."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main


def _examples(runner: CliRunner, command: list[str]) -> list[list[str]]:
    """The example command lines of `command`'s --help, without what a shell pipes or redirects to."""
    result = runner.invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    lines = re.findall(rf"^\s+(tiertrace {' '.join(command)}\b.*)$", result.stdout, flags=re.M)
    return [shlex.split(re.split(r"[|>]", line)[0])[1:] for line in lines]


@pytest.mark.slow
def test_the_examples_of_chain_audit_and_onboarding_run_on_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, `tiertrace chain --help` showed a declaration id and an organisation (`noordhaven`)
    that no database holds: every example stopped with "no chain" or "no organisation"."""
    env = {
        "TIERTRACE_DATA_DIR": str(tmp_path / "data"),
        "TIERTRACE_DATABASE_URL": None,
        "TIERTRACE_AMQP_URL": None,
        "TIERTRACE_SECRET_KEY": None,
    }
    runner = CliRunner()
    loaded = runner.invoke(main, ["demo"], env=env, catch_exceptions=False)
    assert loaded.exit_code == 0, loaded.output

    examples = [
        example
        for command in (["chain"], ["audit"], ["org", "onboarding"])
        for example in _examples(runner, command)
    ]
    assert len(examples) == 3 + 3 + 2
    monkeypatch.chdir(tmp_path)  # where the examples' --out files go
    for example in examples:
        result = runner.invoke(main, example, env=env)
        assert result.exit_code == 0, (example, result.output)
