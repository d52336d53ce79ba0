#!/usr/bin/env bash
# Lint, then run the whole test suite (arguments go to pytest). The static checks come first because they take
# seconds and the suite minutes. Tests start their own Azurite (in memory, free ports) and devhost processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
