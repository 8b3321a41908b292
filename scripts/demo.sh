#!/usr/bin/env bash
# Install, migrate, load the ZEEHAVIK demo programme and serve the portal in the embedded mode.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
tiertrace db upgrade
tiertrace demo
exec tiertrace serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
