#!/usr/bin/env bash
# Start Conduit locally: Azurite (data kept in .azurite/) and devhost on http://localhost:7071, then print the base
# URL, the admin key and an example request. Ctrl-C stops both. The logic lives in devhost/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m devhost.run "$@"
