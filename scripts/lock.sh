#!/usr/bin/env bash
# Regenerate the lock files from the hand-edited inputs, with uv (installed on first use into .tools/ from its own
# lock, requirements-tools.txt):
#   requirements.in       -> requirements.txt       runtime: what Azure's remote build and devhost install
#   requirements-dev.in   -> requirements-dev.txt   runtime + dev tools, constrained by requirements.txt
#   requirements-tools.in -> requirements-tools.txt uv itself
# Every transitive dependency is pinned with its hashes, for Python 3.11 on any platform. A pin already in a lock is
# kept unless an input asks otherwise, so `make lock` after editing an input changes only what it must;
# `make lock UPGRADE=1` (this script's --upgrade) moves every package to the newest version the inputs allow.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-python3}"  # any Python 3 will do: uv is a standalone binary and locks for 3.11 regardless
tools=.tools
stamp="$tools/.requirements.sha"
want=$(sha256sum requirements-tools.txt | cut -d' ' -f1)
if [ ! -x "$tools/bin/uv" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "conduit: installing the lock tool (uv) into $tools/"
  "$python_bin" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-tools.txt
  echo "$want" > "$stamp"
fi

compile() {  # compile INPUT OUTPUT [uv options...]
  local input=$1 output=$2
  shift 2
  "$tools/bin/uv" pip compile "$input" --output-file "$output" --quiet --universal --python-version 3.11 \
    --generate-hashes --custom-compile-command "make lock" "$@"
}

upgrade=""
[ "${1:-}" = "--upgrade" ] && upgrade=--upgrade
compile requirements.in requirements.txt $upgrade
compile requirements-dev.in requirements-dev.txt --constraints requirements.txt $upgrade
compile requirements-tools.in requirements-tools.txt $upgrade
"$tools/bin/python" scripts/check_locks.py
echo "conduit: lock files written (requirements.txt, requirements-dev.txt, requirements-tools.txt)"
