#!/usr/bin/env bash
# Install, then run the whole suite: lint and contracts, the tests on SQLite, the tests on PostgreSQL.
# PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) are used for real. Locally a missing
# service skips its tests with the reason; with CI=true it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/services.sh
# Debian's Chromium for tests/browser; without it (not root, no apt) those tests skip locally, fail in CI.
bash scripts/browser-deps.sh || [ "${CI:-}" != true ]
export PATH="$PWD/.venv/bin:$PATH"

echo "== lint: ruff, import contracts, mypy (tiertrace, schemas, portal, worker, cli), migrations match the models" >&2
ruff check .
ruff format --check .
lint-imports
python -m mypy
TIERTRACE_DATABASE_URL="sqlite:///$(mktemp -d)/check.sqlite3" sh -c 'alembic upgrade head >/dev/null && alembic check'

echo "== tests on SQLite" >&2
TIERTRACE_TEST_DB=sqlite python -m pytest -p no:cacheprovider "$@"
echo "== tests on PostgreSQL" >&2
TIERTRACE_TEST_DB=postgresql python -m pytest -p no:cacheprovider "$@"
