#!/usr/bin/env bash
# Run the whole test suite. Tests start their own Azurite (in memory, free ports) and devhost processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
