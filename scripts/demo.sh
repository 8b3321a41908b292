#!/usr/bin/env bash
# Install, migrate, load the ZEEHAVIK demo programme and serve the portal in the embedded mode.
# HOST and PORT choose where the portal listens (default 127.0.0.1:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
tiertrace db upgrade
# Prints the URL, the three logins and the root declaration; safe to run again.
tiertrace demo --base-url "http://$HOST:$PORT"
echo "(The terminal commands above need the project's tools on your PATH: . .venv/bin/activate)" >&2
echo "Starting the portal on http://$HOST:$PORT/ (Ctrl-C stops it; the demo data stays in ./tiertrace-data)" >&2
exec tiertrace serve --host "$HOST" --port "$PORT"
