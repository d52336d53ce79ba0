"""The import hook behind `import bifrost`: installed once, before discovery imports any workspace module.

With CONDUIT_BIFROST_COMPAT on, the finder sits first on `sys.meta_path`, so `bifrost` is Conduit's API even when
a package of that name is installed; `bifrost.<sub>` (`import bifrost.files`, `from bifrost.files import read`)
fails with the message naming it. With the setting off it sits last and only answers for an import nothing else
could satisfy, with a message saying which setting turns it on — a real `bifrost` package (or a workspace module
named so) still imports.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import types
from collections.abc import Sequence

from shared.compat import bifrost

SETTING = "CONDUIT_BIFROST_COMPAT"
_ON = ("true", "1", "yes", "on")
_OFF = ("", "false", "0", "no", "off")

log = logging.getLogger("conduit.compat")


class BifrostFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `bifrost` (Conduit's API, or the "turn it on" error) and refuses its submodules by name."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == bifrost.MODULE_NAME:
            if not self.enabled:
                raise bifrost.switched_off(SETTING)
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        if fullname.startswith(bifrost.MODULE_NAME + ".") and self.enabled:
            raise bifrost.not_offered(fullname.split(".")[1])
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # a fresh module; exec_module fills it

    def exec_module(self, module: types.ModuleType) -> None:
        bifrost.populate(module)


def enabled_by_setting(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """CONDUIT_BIFROST_COMPAT: true/1/yes/on turns it on; off by default. Another value is off, with a warning."""
    raw = environ.get(SETTING, "").strip().lower()
    if raw not in _ON and raw not in _OFF:
        log.warning("ignoring %s=%r: use true or false; `import bifrost` stays off", SETTING, raw)
    return raw in _ON


def install(enabled: bool | None = None) -> BifrostFinder:
    """Put the finder in place for the setting (or `enabled`), replacing one installed before; idempotent.

    A `bifrost` module imported earlier under the other setting is forgotten, so the next import follows this one.
    """
    enabled = enabled_by_setting() if enabled is None else enabled
    uninstall()
    finder = BifrostFinder(enabled)
    if enabled:
        sys.meta_path.insert(0, finder)
    else:
        sys.meta_path.append(finder)
    return finder


def uninstall() -> None:
    """Remove the finder and the `bifrost` module it made (tests switch the setting within one process)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, BifrostFinder)]
    module = sys.modules.get(bifrost.MODULE_NAME)
    if module is not None and isinstance(getattr(module, "__loader__", None), BifrostFinder):
        del sys.modules[bifrost.MODULE_NAME]
