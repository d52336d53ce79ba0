"""Importing function_app is what every host start and cold start pays: heavy libraries that only some requests
need are imported when first used, not at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# forms' expressions and JWT bearer tokens: ~50 ms each to import, needed only by the requests that use them
LAZY = ("jinja2", "jwt")


def test_importing_function_app_leaves_lazy_libraries_unimported() -> None:
    # When function_app is imported in a fresh interpreter
    probe = f"import sys, function_app; print([m for m in {LAZY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    # Then none of the lazily imported libraries was loaded
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
