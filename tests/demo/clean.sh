#!/usr/bin/env bash
# make demo-clean: stop the demo's emulator and mirror, remove its host containers, network and files.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
NAME="${ECSA_DEMO_NAME:-demo}"
if [ -x .venv/bin/python ] && docker info >/dev/null 2>&1; then
    .venv/bin/python -m tests.demo.world down --name "$NAME"
fi
rm -rf "$REPO/build/demo"
echo "demo removed"
