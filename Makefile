# tiertrace developer tasks. `make help` lists them.
.DEFAULT_GOAL := help
PY ?= .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(PATH)

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install:  ## create .venv and install tiertrace with its test tools
	bash scripts/install.sh

test:  ## the whole suite on SQLite, then PostgreSQL (what CI runs)
	bash scripts/test.sh

lint:  ## ruff, import contracts, mypy (tiertrace, schemas, portal, worker, cli), alembic check
	ruff check . && ruff format --check . && lint-imports && $(PY) -m mypy
	TIERTRACE_DATABASE_URL="sqlite:///$$(mktemp -d)/check.sqlite3" sh -c 'alembic upgrade head >/dev/null && alembic check'

migration:  ## autogenerate a migration: make migration m="what changed"
	rm -f /tmp/tiertrace-migration.sqlite3
	TIERTRACE_DATABASE_URL=sqlite:////tmp/tiertrace-migration.sqlite3 alembic upgrade head
	TIERTRACE_DATABASE_URL=sqlite:////tmp/tiertrace-migration.sqlite3 alembic revision --autogenerate -m "$(m)"

bench:  ## run every benchmark in bench/ (prints figures)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

.PHONY: help install test lint migration bench
