#!/usr/bin/env bash
# The static checks, in order of cost, stopping at the first that fails: the lock files agree with their inputs,
# ruff over the whole tree, then mypy over every package (the `files` of [tool.mypy] in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python scripts/check_locks.py
.venv/bin/ruff check .
.venv/bin/mypy
