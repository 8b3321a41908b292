"""The project's shape: dependency direction, the deployment file, the console script."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = {"flask", "werkzeug", "pika", "portal", "worker", "cli"}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_core_imports_neither_the_web_nor_the_bus():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & FORBIDDEN_IN_CORE)
        for path in (ROOT / "tiertrace").rglob("*.py")
        if imported_top_levels(path) & FORBIDDEN_IN_CORE
    }
    assert offenders == {}


def test_the_import_linter_contracts_hold():
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_runs_postgres_rabbitmq_the_portal_under_gunicorn_and_the_worker():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "rabbitmq", "portal", "worker"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    assert services["portal"]["command"][:2] == ["tiertrace", "serve"]
    assert services["worker"]["command"] == ["tiertrace", "worker"]
    for name in ("portal", "worker"):
        env = services[name]["environment"]
        assert env["TIERTRACE_DATABASE_URL"].startswith("postgresql://")
        assert env["TIERTRACE_AMQP_URL"].startswith("amqp://")
        # Invitation links must not point at the container's loopback address.
        assert "TIERTRACE_BASE_URL" in env
    # A crash or a host reboot brings every service back.
    assert all(service.get("restart") == "unless-stopped" for service in services.values())


def test_docker_compose_checks_the_health_of_the_worker_through_its_health_file(tmp_path):
    worker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    env = worker["environment"]
    assert env["TIERTRACE_WORKER_HEALTH_FILE"].startswith("/tmp/")  # the image's user may write there
    assert env["TIERTRACE_DATABASE_URL"].startswith("postgresql://")  # the shared settings are merged in
    test = worker["healthcheck"]["test"]
    assert test[:3] == ["CMD", "tiertrace", "worker"]
    # The command as compose runs it, with the variable it sets (here pointing at no file yet): it
    # checks, and finds the worker unhealthy, rather than failing on its usage.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "tiertrace"), *test[2:]],
        cwd=ROOT,
        env={"TIERTRACE_WORKER_HEALTH_FILE": str(tmp_path / "health.json")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"unhealthy: no health file at {tmp_path / 'health.json'}: ")
