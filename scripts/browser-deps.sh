#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/browser), when it is missing. Idempotent and quiet.
# Playwright drives this system browser through executable_path: its own browser download cannot work here.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "browser-deps: /usr/bin/chromium is missing; run as root or: apt-get install chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Update the package lists only when apt knows no chromium candidate yet (a fresh machine has empty lists).
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  apt-get update -qq -o DPkg::Lock::Timeout=600 >/dev/null
fi
# Wait for a package manager that holds the lock (unattended upgrades, another install) instead of failing.
apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "browser-deps: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)" >&2
