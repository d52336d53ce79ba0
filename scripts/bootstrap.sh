#!/usr/bin/env bash
# Install what Conduit needs, once: a Python 3.11 virtual environment with the locked requirements, and Azurite
# from npm. Re-running is cheap: each step is skipped while its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "conduit: $*" >&2; exit 1; }

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || fail "Python 3.11 is required (set PYTHON=/path/to/python3.11)."
command -v npm >/dev/null 2>&1 || fail "Node.js 20+ with npm is required for Azurite (https://nodejs.org, or: apt-get install nodejs npm)."

if [ ! -x .venv/bin/python ]; then
  echo "conduit: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi
# From the lock files (`make lock` writes them): every package pinned and checked against its hash. The dev lock
# holds the runtime lock's packages at the same versions, plus the dev tools.
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "conduit: installing Python requirements (requirements-dev.txt)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

npm_stamp=node_modules/.package-lock.sha
npm_want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/azurite ] || [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_want" ]; then
  echo "conduit: installing Azurite (npm ci)"
  npm ci --silent --no-audit --no-fund
  echo "$npm_want" > "$npm_stamp"
fi
